/**
 * What a schema allows, in the words of an error message: zod's default messages ("Invalid input:
 * expected string, received number", "Invalid option: expected one of …", "Too small: expected
 * number to be >=1") become "a string", "one of "image", "points"", "at least 1". A schema's own
 * message (`{ error: '…' }`) is kept as it is. Used by the manifest parser and the server's
 * request parser, so that every "is not allowed; expected …" reads the same.
 *
 * @example
 *   allowedByIssue(result.error.issues[0])   // 'one of "image", "points"'
 */
import type { core } from 'zod';

const DEFAULT_MESSAGE = /^(Invalid input|Invalid option|Too small|Too big|Invalid string|Invalid)\b/;

export function allowedByIssue(issue: core.$ZodIssue): string {
  const message = issue.message;
  if (!DEFAULT_MESSAGE.test(message)) return message;
  switch (issue.code) {
    case 'invalid_type':
      return issue.expected === 'object' ? 'a JSON object' : issue.expected === 'array' ? 'a JSON array' : issue.expected === 'int' ? 'an integer' : `a ${issue.expected}`;
    case 'invalid_value':
      return issue.values.length === 1 ? JSON.stringify(issue.values[0]) : `one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
    case 'too_small':
    case 'too_big': {
      const bound = String(issue.code === 'too_small' ? issue.minimum : issue.maximum);
      const unit = issue.origin === 'string' ? ' characters' : issue.origin === 'array' || issue.origin === 'set' ? ' items' : '';
      if (issue.exact) return `exactly ${bound}${unit}`;
      const side = issue.code === 'too_small' ? (issue.inclusive === false ? 'more than' : 'at least') : issue.inclusive === false ? 'less than' : 'at most';
      return `${side} ${bound}${unit}`;
    }
    case 'invalid_format':
      if (issue.format === 'regex' && 'pattern' in issue) return `text matching ${String(issue.pattern)}`;
      return ['starts_with', 'ends_with', 'includes'].includes(issue.format) ? message : `a valid ${issue.format}`;
    case 'invalid_union': {
      // Each branch's own refusal: "a number or a string".
      const each = [...new Set(issue.errors.map((branch) => (branch[0] ? allowedByIssue(branch[0]) : '')).filter(Boolean))];
      return each.length > 0 ? each.join(' or ') : message;
    }
    default:
      return message;
  }
}
