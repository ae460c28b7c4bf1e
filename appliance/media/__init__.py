"""Audio: decoding uploads, encoding for storage, chunked encryption, the file store."""
