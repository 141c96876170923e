/**
 * What a value placed bare (`replicas: {{replicas}}`) becomes: the type the YAML 1.2 core schema gives
 * that text as a plain scalar. The value is only classified, never parsed as YAML, so it can never turn
 * into a collection.
 */
export function naturalScalar(value: string): string | number | boolean | null {
  if (/^(?:~|null|Null|NULL)?$/.test(value)) return null;
  if (/^(?:true|True|TRUE)$/.test(value)) return true;
  if (/^(?:false|False|FALSE)$/.test(value)) return false;
  if (/^[-+]?[0-9]+$/.test(value)) return exactInteger(Number(value), value);
  if (/^0o[0-7]+$/.test(value)) return exactInteger(parseInt(value.slice(2), 8), value);
  if (/^0x[0-9a-fA-F]+$/.test(value)) return exactInteger(parseInt(value.slice(2), 16), value);
  if (/^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$/.test(value)) {
    const number = Number(value);
    // JSON has no Infinity: a float that overflows stays the text the caller sent.
    return Number.isFinite(number) ? number : value;
  }
  // `.inf` and `.nan` are core-schema floats too, but JSON cannot carry them, so they stay strings.
  return value;
}

/** An integer JavaScript cannot hold exactly stays text rather than silently becoming another number. */
function exactInteger(number: number, text: string): number | string {
  return Number.isSafeInteger(number) ? number : text;
}
