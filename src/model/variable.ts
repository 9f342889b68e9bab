import { z } from 'zod';

/** A variable name: an identifier, as selectors see it in `env` (`IP1_enable`). */
export const VariableName = z
  .string()
  .regex(
    /^[A-Za-z_][A-Za-z0-9_]{0,63}$/,
    'must be an identifier: letters, digits, _ (max 64), not starting with a digit',
  );

/** A variable value: always a string, as in ShowAPI's environment variables. */
export const VariableValue = z.string().max(4096);

/** Body of `PUT /admin/variables/:name`. */
export const VariableInput = z.strictObject({ value: VariableValue });

/** A stored variable. */
export const Variable = z.object({
  name: VariableName,
  value: VariableValue,
  updatedAt: z.string(),
});
export type Variable = z.infer<typeof Variable>;
