//! The binary layout of the state the site keeps between builds (trend
//! points, the change-point memo): a magic line naming the kind of file,
//! the perfkit version that wrote it, then little-endian fields. A file of
//! another kind or version is not read: state only saves time, so the
//! caller starts from scratch instead.

/// A state file under construction: its magic line and version are in.
pub(crate) struct StateWriter {
    out: Vec<u8>,
}

impl StateWriter {
    /// A file of the kind `magic`, with room for `capacity` more bytes.
    pub(crate) fn new(magic: &[u8], capacity: usize) -> StateWriter {
        let version = env!("CARGO_PKG_VERSION").as_bytes();
        let mut out = Vec::with_capacity(magic.len() + 4 + version.len() + capacity);
        out.extend_from_slice(magic);
        out.extend_from_slice(&(version.len() as u32).to_le_bytes());
        out.extend_from_slice(version);
        StateWriter { out }
    }

    pub(crate) fn u8(&mut self, value: u8) {
        self.out.push(value);
    }

    pub(crate) fn u32(&mut self, value: u32) {
        self.out.extend_from_slice(&value.to_le_bytes());
    }

    pub(crate) fn u64(&mut self, value: u64) {
        self.out.extend_from_slice(&value.to_le_bytes());
    }

    /// Exact to the bit (NaN payloads and signed zeros included).
    pub(crate) fn f64(&mut self, value: f64) {
        self.u64(value.to_bits());
    }

    pub(crate) fn bytes(&mut self, value: &[u8]) {
        self.out.extend_from_slice(value);
    }

    pub(crate) fn finish(self) -> Vec<u8> {
        self.out
    }
}

/// Reads a state file field by field; every read is `None` past the end.
pub(crate) struct StateReader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> StateReader<'a> {
    /// A reader after the magic line and version, if `bytes` is a file of
    /// the kind `magic` written by this perfkit version.
    pub(crate) fn open(bytes: &'a [u8], magic: &[u8]) -> Option<StateReader<'a>> {
        let mut r = StateReader { bytes, at: 0 };
        if r.take(magic.len())? != magic {
            return None;
        }
        let version_len = r.u32()? as usize;
        (r.take(version_len)? == env!("CARGO_PKG_VERSION").as_bytes()).then_some(r)
    }

    pub(crate) fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.at.checked_add(n)?;
        let part = self.bytes.get(self.at..end)?;
        self.at = end;
        Some(part)
    }

    pub(crate) fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }

    pub(crate) fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }

    pub(crate) fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }

    pub(crate) fn f64(&mut self) -> Option<f64> {
        Some(f64::from_bits(self.u64()?))
    }

    /// Bytes not read yet (a bound for preallocating from untrusted counts).
    pub(crate) fn remaining(&self) -> usize {
        self.bytes.len() - self.at
    }

    /// Whether every byte was read: a well-formed file has nothing left.
    pub(crate) fn is_done(&self) -> bool {
        self.at == self.bytes.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_round_trip_and_other_files_are_refused() {
        let mut w = StateWriter::new(b"kind 1\n", 0);
        w.u8(7);
        w.u32(70_000);
        w.u64(u64::MAX - 1);
        w.f64(-0.0);
        w.bytes(b"tail");
        let bytes = w.finish();

        let mut r = StateReader::open(&bytes, b"kind 1\n").unwrap();
        assert_eq!(r.u8(), Some(7));
        assert_eq!(r.u32(), Some(70_000));
        assert_eq!(r.u64(), Some(u64::MAX - 1));
        assert_eq!(r.f64().map(f64::to_bits), Some((-0.0f64).to_bits()));
        assert!(!r.is_done());
        assert_eq!(r.remaining(), 4);
        assert_eq!(r.take(4), Some(&b"tail"[..]));
        assert!(r.is_done());
        assert_eq!(r.u8(), None);

        assert!(StateReader::open(&bytes, b"kind 2\n").is_none());
        assert!(StateReader::open(&bytes[..5], b"kind 1\n").is_none());
        // Another perfkit version's file.
        let mut other = bytes.clone();
        let version_at = b"kind 1\n".len() + 4;
        other[version_at] ^= 1;
        assert!(StateReader::open(&other, b"kind 1\n").is_none());
    }
}
