/** `payload` as JSON ending with a newline, so `curl` output ends its line in a terminal: every JSON answer of every port is one. */
export function jsonLine(payload: unknown): string {
  return JSON.stringify(payload) + '\n';
}
