export { openStore, describeStoreUrl, type StoreOptions } from './open-store.js';
export { StoreError, ConflictError, LabelNameOwnedError, STORE_ERROR_CODES, type StoreErrorCode } from './errors.js';
export * from './store.js';
