/** Schema pieces several drivers' option and config schemas share. */
import { Type } from '@sinclair/typebox';

/** `{url, sum}`: a file to fetch and verify (parseImageRef checks the URL's scheme and the sum's length). */
export const ImageRefSchema = Type.Object(
  {
    url: Type.String({ minLength: 1, description: 'a file://, http:// or https:// URL' }),
    sum: Type.String({ minLength: 1, description: '"sha256:<64 hex digits>" or "sha512:<128 hex digits>"' }),
  },
  { additionalProperties: false, description: "{url, sum}: fetched under the node's fetch policy and verified before use" },
);

/** `disk_reserve` and `max_disk_size` (parseDiskLimits reads them). */
export const DiskLimitsSchema = {
  disk_reserve: Type.Optional(
    Type.Union([Type.String(), Type.Number({ minimum: 0 })], {
      problem: 'must be a share like "5%" (under 100%) or a size like "10GB" (MB, GB, TB)',
      description: 'space of the file system never promised to disks: "5%" (default), "10GB" or a number of GB',
    }),
  ),
  max_disk_size: Type.Optional(
    Type.Integer({
      minimum: 1,
      problem: 'must be a whole number of GB (at least 1)',
      description: 'largest single disk a label may ask for, GB',
    }),
  ),
};
