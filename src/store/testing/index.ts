export { createTestDatabase, TEST_DIALECTS, TEST_PG_URL, type TestDatabase, type TestDialect } from './test-databases.js';
