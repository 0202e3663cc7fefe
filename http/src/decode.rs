//! Decoding a body as it streams, with the size cap on what comes out.
//!
//! OpenDev's Swift log storage keeps many files gzip-compressed and serves
//! them with `Content-Encoding: gzip` whatever the client asks; a file
//! uploaded as `*.gz` may come with or without that header. So a body is
//! decoded in up to two layers: the `Content-Encoding`, then, when what
//! comes out starts with gzip's magic bytes, the file itself. Every layer
//! writes into a [`Capped`] sink that fails once the *decoded* bytes pass
//! the cap, so a small compressed body (a zip bomb) cannot fill the disk
//! or memory: at most one network chunk's expansion is buffered.

use std::io::{self, Write};

use flate2::write::MultiGzDecoder;

/// gzip's magic bytes (RFC 1952).
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Why decoding stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// More than the cap came out.
    TooLarge,
    /// The compressed data is cut short or corrupt.
    Corrupt(String),
}

/// The innermost sink: collects decoded bytes, refuses past `max`.
struct Capped {
    out: Vec<u8>,
    total: u64,
    max: u64,
    over: bool,
}

impl Write for Capped {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.total += buf.len() as u64;
        if self.total > self.max {
            self.over = true;
            return Err(io::Error::other("over the size cap"));
        }
        self.out.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The file layer: undecided until two bytes came, then plain or gzip.
enum FileLayer {
    Start(Vec<u8>, Capped),
    Plain(Capped),
    Gzip(Box<MultiGzDecoder<Capped>>),
    /// Only while switching states.
    Moving,
}

impl FileLayer {
    fn sink(&mut self) -> &mut Capped {
        match self {
            FileLayer::Start(_, c) | FileLayer::Plain(c) => c,
            FileLayer::Gzip(d) => d.get_mut(),
            FileLayer::Moving => unreachable!("a layer is never left moving"),
        }
    }

    /// Decides plain or gzip from the bytes held so far, and writes them on.
    fn decide(&mut self) -> io::Result<()> {
        if !matches!(self, FileLayer::Start(..)) {
            return Ok(());
        }
        let FileLayer::Start(head, sink) = std::mem::replace(self, FileLayer::Moving) else {
            unreachable!("checked above");
        };
        if head.starts_with(&GZIP_MAGIC) {
            *self = FileLayer::Gzip(Box::new(MultiGzDecoder::new(sink)));
        } else {
            *self = FileLayer::Plain(sink);
        }
        self.write_all(&head)
    }

    fn finish(&mut self) -> io::Result<()> {
        self.decide()?;
        match self {
            FileLayer::Gzip(d) => d.try_finish(),
            _ => Ok(()),
        }
    }
}

impl Write for FileLayer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            FileLayer::Start(head, _) => {
                let take = buf.len().min(GZIP_MAGIC.len() - head.len());
                head.extend_from_slice(&buf[..take]);
                if head.len() == GZIP_MAGIC.len() {
                    self.decide()?;
                }
                Ok(take)
            }
            FileLayer::Plain(c) => c.write(buf),
            FileLayer::Gzip(d) => d.write(buf),
            FileLayer::Moving => unreachable!("a layer is never left moving"),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A streaming decoder for one body.
pub struct BodyDecoder {
    /// `Content-Encoding: gzip`: the outer layer.
    transfer: Option<Box<MultiGzDecoder<FileLayer>>>,
    /// Without it, the file layer directly.
    file: Option<FileLayer>,
}

impl BodyDecoder {
    /// `content_gzip`: the body has `Content-Encoding: gzip`; `files`:
    /// also decode a gzip file; `max`: the cap on decoded bytes.
    pub fn new(content_gzip: bool, files: bool, max: u64) -> BodyDecoder {
        let sink = Capped {
            out: Vec::new(),
            total: 0,
            max,
            over: false,
        };
        let file = if files {
            FileLayer::Start(Vec::new(), sink)
        } else {
            FileLayer::Plain(sink)
        };
        if content_gzip {
            BodyDecoder {
                transfer: Some(Box::new(MultiGzDecoder::new(file))),
                file: None,
            }
        } else {
            BodyDecoder {
                transfer: None,
                file: Some(file),
            }
        }
    }

    fn layer(&mut self) -> &mut FileLayer {
        match (&mut self.transfer, &mut self.file) {
            (Some(t), _) => t.get_mut(),
            (None, Some(f)) => f,
            (None, None) => unreachable!("a decoder has a layer"),
        }
    }

    /// Feeds one chunk of the body; returns the bytes decoded so far.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<Vec<u8>, DecodeError> {
        let result = match (&mut self.transfer, &mut self.file) {
            (Some(t), _) => t.write_all(chunk),
            (None, Some(f)) => f.write_all(chunk),
            (None, None) => Ok(()),
        };
        self.outcome(result)
    }

    /// Ends the body: a gzip stream must be complete.
    pub fn finish(&mut self) -> Result<Vec<u8>, DecodeError> {
        let result = match &mut self.transfer {
            Some(t) => t.try_finish().and_then(|()| t.get_mut().finish()),
            None => self.layer().finish(),
        };
        self.outcome(result)
    }

    /// How many decoded bytes came out so far.
    pub fn decoded(&mut self) -> u64 {
        self.layer().sink().total
    }

    fn outcome(&mut self, result: io::Result<()>) -> Result<Vec<u8>, DecodeError> {
        let sink = self.layer().sink();
        if sink.over {
            return Err(DecodeError::TooLarge);
        }
        match result {
            Ok(()) => Ok(std::mem::take(&mut sink.out)),
            Err(e) => Err(DecodeError::Corrupt(corrupt_message(&e))),
        }
    }
}

fn corrupt_message(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::WriteZero => "data after the end of the gzip stream".into(),
        _ => format!("gzip data cut short or corrupt ({e})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::Compression;
    use flate2::write::GzEncoder;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    /// Feeds `body` in chunks of `size`, returns everything decoded.
    fn run(mut d: BodyDecoder, body: &[u8], size: usize) -> Result<Vec<u8>, DecodeError> {
        let mut out = Vec::new();
        for chunk in body.chunks(size.max(1)) {
            out.extend(d.feed(chunk)?);
        }
        out.extend(d.finish()?);
        Ok(out)
    }

    #[test]
    fn plain_gzip_and_gzip_files_in_both_layers() {
        let json = br#"{"tasks": []}"#.repeat(100);
        let once = gzip(&json);
        let twice = gzip(&once);
        for size in [1, 2, 7, 4096] {
            assert_eq!(
                run(BodyDecoder::new(false, true, 1 << 20), &json, size),
                Ok(json.clone())
            );
            assert_eq!(
                run(BodyDecoder::new(true, true, 1 << 20), &once, size),
                Ok(json.clone())
            );
            assert_eq!(
                run(BodyDecoder::new(false, true, 1 << 20), &once, size),
                Ok(json.clone())
            );
            assert_eq!(
                run(BodyDecoder::new(true, true, 1 << 20), &twice, size),
                Ok(json.clone())
            );
            // Without file decoding, a gzip file is bytes like any other.
            assert_eq!(
                run(BodyDecoder::new(false, false, 1 << 20), &once, size),
                Ok(once.clone())
            );
        }
        assert_eq!(
            run(BodyDecoder::new(false, true, 10), b"x", 1),
            Ok(b"x".to_vec())
        );
        assert_eq!(
            run(BodyDecoder::new(false, true, 10), b"", 1),
            Ok(Vec::new())
        );
    }

    #[test]
    fn the_cap_counts_decoded_bytes() {
        // 64 MiB of zeros compress to ~64 KiB: refused long before the end.
        let bomb = gzip(&vec![0u8; 64 << 20]);
        assert!(bomb.len() < 100 << 10);
        let mut d = BodyDecoder::new(true, true, 1 << 20);
        let mut fed = 0;
        let mut result = Ok(Vec::new());
        for chunk in bomb.chunks(8192) {
            fed += chunk.len();
            result = d.feed(chunk);
            if result.is_err() {
                break;
            }
        }
        assert_eq!(result, Err(DecodeError::TooLarge));
        assert!(fed < bomb.len(), "stopped early");
        assert!(d.decoded() <= (1 << 20) + (8192 * 1100));
        let plain = vec![b'x'; 11];
        assert_eq!(
            run(BodyDecoder::new(false, true, 10), &plain, 3),
            Err(DecodeError::TooLarge)
        );
        assert_eq!(run(BodyDecoder::new(false, true, 11), &plain, 3), Ok(plain));
    }

    #[test]
    fn cut_short_or_corrupt_gzip_is_refused() {
        let once = gzip(&br#"{"tasks": []}"#.repeat(100));
        let cut = &once[..once.len() - 5];
        let e = run(BodyDecoder::new(false, true, 1 << 20), cut, 64).unwrap_err();
        assert!(matches!(e, DecodeError::Corrupt(_)), "{e:?}");
        let mut flipped = once.clone();
        flipped[20] ^= 0xff;
        let e = run(BodyDecoder::new(true, true, 1 << 20), &flipped, 64).unwrap_err();
        assert!(matches!(e, DecodeError::Corrupt(_)), "{e:?}");
    }
}
