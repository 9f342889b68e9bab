import { closeBrackets, closeBracketsKeymap } from '@codemirror/autocomplete';
import { javascript } from '@codemirror/lang-javascript';
import {
  bracketMatching,
  defaultHighlightStyle,
  indentOnInput,
  indentUnit,
  syntaxHighlighting,
} from '@codemirror/language';
import { lintGutter, setDiagnostics } from '@codemirror/lint';
import { EditorState, StateEffect, StateField } from '@codemirror/state';
import {
  Decoration,
  drawSelection,
  EditorView,
  highlightActiveLine,
  highlightActiveLineGutter,
  highlightSpecialChars,
  keymap,
  lineNumbers,
  type DecorationSet,
} from '@codemirror/view';
import { defaultKeymap, history, historyKeymap, indentWithTab } from '@codemirror/commands';

/** A JavaScript editor (CodeMirror 6) with a way to point at an error line. */
export interface CodeEditor {
  view: EditorView;
  getCode(): string;
  /** Replaces the whole text as one undoable change. */
  setCode(code: string): void;
  /** Marks a line (1-based) and column as in error, with the message on hover and in the gutter. */
  showError(line: number, column: number | undefined, message: string): void;
  clearError(): void;
  focus(): void;
}

const setErrorLine = StateEffect.define<number | null>();

// A whole-line background for the error line: easier to spot than the lint underline alone.
const errorLineField = StateField.define<DecorationSet>({
  create: () => Decoration.none,
  update(deco, tr) {
    deco = deco.map(tr.changes);
    for (const e of tr.effects) {
      if (e.is(setErrorLine)) {
        deco =
          e.value === null
            ? Decoration.none
            : Decoration.set([Decoration.line({ class: 'cm-error-line' }).range(e.value)]);
      }
    }
    return deco;
  },
  provide: (f) => EditorView.decorations.from(f),
});

const theme = EditorView.theme({
  '&': { fontSize: '13.5px', backgroundColor: '#fff' },
  '.cm-content': { fontFamily: 'var(--mono)', padding: '6px 0' },
  '.cm-gutters': { backgroundColor: '#f6f7f9', color: '#6b7383', borderRight: '1px solid #d8dce3' },
  '.cm-error-line': { backgroundColor: '#fdecea' },
  '&.cm-focused': { outline: 'none' },
});

/**
 * Creates the selector editor in `parent`: line numbers, JavaScript highlighting, bracket matching,
 * auto-closed brackets, indentation, undo. `label` names the text box for screen readers; Esc then
 * Tab leaves it (Tab itself indents).
 */
export function createCodeEditor(
  parent: HTMLElement,
  o: { doc: string; label: string; describedBy?: string; onChange: (code: string) => void },
): CodeEditor {
  const view = new EditorView({
    parent,
    state: EditorState.create({
      doc: o.doc,
      extensions: [
        lineNumbers(),
        highlightActiveLineGutter(),
        highlightSpecialChars(),
        drawSelection(),
        highlightActiveLine(),
        indentUnit.of('  '),
        javascript(),
        syntaxHighlighting(defaultHighlightStyle, { fallback: true }),
        bracketMatching(),
        indentOnInput(),
        closeBrackets(),
        keymap.of(closeBracketsKeymap),
        history(),
        // Tab indents inside the editor; Esc then Tab leaves it (CodeMirror's documented escape hatch).
        keymap.of([...defaultKeymap, ...historyKeymap, indentWithTab]),
        lintGutter(),
        errorLineField,
        theme,
        // Long lines wrap, so an error's column is in sight on a narrow screen too.
        EditorView.lineWrapping,
        EditorView.contentAttributes.of({
          'aria-label': o.label,
          ...(o.describedBy ? { 'aria-describedby': o.describedBy } : {}),
        }),
        EditorView.updateListener.of((u) => {
          if (u.docChanged) o.onChange(u.state.doc.toString());
        }),
      ],
    }),
  });

  return {
    view,
    getCode: () => view.state.doc.toString(),
    setCode(code) {
      view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: code }, userEvent: 'input.replace' });
    },
    showError(line, column, message) {
      const doc = view.state.doc;
      const l = doc.line(Math.min(Math.max(1, line), doc.lines));
      const from = Math.min(l.from + Math.max(0, (column ?? 1) - 1), l.to);
      const to = from < l.to ? l.to : Math.min(from + 1, doc.length);
      view.dispatch(setDiagnostics(view.state, [{ from, to, severity: 'error', message }]));
      view.dispatch({ effects: [setErrorLine.of(l.from), EditorView.scrollIntoView(from, { y: 'center' })] });
    },
    clearError() {
      view.dispatch(setDiagnostics(view.state, []));
      view.dispatch({ effects: setErrorLine.of(null) });
    },
    focus: () => view.focus(),
  };
}
