/**
 * A watch event's JSON, decoded without what gitfaas throws away at once: an object's spec (the pod
 * template, with the rendered payload in it) and its managed fields are most of its bytes, and decoding
 * them was most of what a watch event cost. The API server writes an object's fields in the order of its
 * Go type: `metadata` (whose last field is `managedFields`), then `spec`, then `status`. Inside JSON
 * strings every quote is escaped, so the markers below can only be found as the keys they name; neither a
 * Job's nor a Pod's spec, nor their metadata, has a key `status` whose value is an object. Where the
 * markers are not found in that order, the event is decoded whole: the answer is the same, only dearer.
 */
const MANAGED_FIELDS = ',"managedFields":[';
const SPEC = '},"spec":{';
const STATUS = ',"status":{';

export function decodeWatchEvent(line: string): unknown {
  const metadataEnd = line.indexOf(SPEC);
  const statusStart = line.lastIndexOf(STATUS);
  if (metadataEnd < 0 || statusStart < metadataEnd) return JSON.parse(line);
  const managed = line.lastIndexOf(MANAGED_FIELDS, metadataEnd);
  const metadata = line.slice(0, managed < 0 ? metadataEnd : managed);
  return JSON.parse(`${metadata}}${line.slice(statusStart)}`);
}
