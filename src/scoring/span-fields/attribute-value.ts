/**
 * Turns a stored attribute value (always a string: the exporter stringifies everything) back
 * into what the instrumentation most likely meant. Only JSON objects and arrays are parsed —
 * `input.value`, `gen_ai.input.messages`, `metadata` and friends are JSON documents — while
 * `'42'`, `'true'` and `'null'` stay strings: a prompt that happens to be "42" is text, and
 * scorers such as NumericDiff coerce numeric strings themselves. Text that merely looks like
 * JSON but does not parse (`'[draft] reply'`) stays as it is.
 */
export function parseAttributeValue(text: string): unknown {
  const trimmed = text.trimStart();
  if (!trimmed.startsWith('{') && !trimmed.startsWith('[')) return text;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}
