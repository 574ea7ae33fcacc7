export {
  ImageCache,
  parseImageRef,
  redactUrl,
  detectCompression,
  type ImageRef,
  type ImageCacheOptions,
  type FetchOptions,
  type Compression,
} from './image-cache.js';
