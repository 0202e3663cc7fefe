//! The seam between parsers and encoders, [`perfkit_schema::sink`]: it lives
//! in `perfkit-schema` so parsers build without the archive (the fuzz
//! targets do), and is re-exported here where the encoders implement it.

pub use perfkit_schema::sink::{CountingSink, OwnedSample, SampleSink, SinkError};
