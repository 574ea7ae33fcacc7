export { describeConformance } from './describe-conformance.js';
export type { ConformanceOptions } from './conformance-options.js';
