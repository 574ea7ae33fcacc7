export { createTestDatabase, TEST_DIALECTS, TEST_PG_URL, type TestDatabase, type TestDialect } from './test-databases.js';
export {
  FailingStore,
  InjectedStoreFailure,
  type FailurePoint,
  type FailureRule,
  type Injection,
  type StoreMethod,
} from './failing-store.js';
