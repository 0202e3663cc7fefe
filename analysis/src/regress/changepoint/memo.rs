//! A content-addressed memo of the change-point search: the result of each
//! split-step window and merge-step assessment, keyed by a SHA-256 of
//! everything it depends on (the values' bits, the positions that seed its
//! PRNG, the settings). A history that grew by one build repeats almost all
//! of its windows, so a site rebuild recomputes only the last ones; the
//! answer is the one a computation would give, by construction.

use std::collections::HashMap;
use std::sync::Mutex;

use sha2::{Digest, Sha256};

use super::ChangePointConfig;
use crate::state_bytes::{StateReader, StateWriter};

/// Bumped whenever the search changes what it returns for the same input.
const ALGORITHM: u64 = 1;
const MAGIC: &[u8] = b"perfkit change-point memo 1\n";

type Key = [u8; 16];

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Outcome {
    /// A split-step window: (position, statistic) of each split kept.
    Window(Vec<(usize, f64)>),
    /// A merge-step assessment: (p-value, effect).
    Assessment(f64, f64),
}

/// Memoised results, shared by the threads analysing a project's series.
/// `to_bytes` keeps only what this run used, so the memo tracks the
/// history instead of growing with every rebuild.
#[derive(Debug, Default)]
pub struct ChangePointMemo {
    entries: Mutex<HashMap<Key, (Outcome, bool)>>,
}

impl ChangePointMemo {
    pub fn new() -> ChangePointMemo {
        ChangePointMemo::default()
    }

    /// A memo saved by `to_bytes`; empty when `bytes` is not one (written
    /// by another perfkit version, truncated): it can only save time.
    pub fn from_bytes(bytes: &[u8]) -> ChangePointMemo {
        let entries = parse(bytes).unwrap_or_default();
        ChangePointMemo {
            entries: Mutex::new(entries),
        }
    }

    /// The entries used or added since this memo was loaded, sorted by key.
    pub fn to_bytes(&self) -> Vec<u8> {
        let entries = self.entries.lock().expect("memo lock");
        let mut used: Vec<(&Key, &Outcome)> = entries
            .iter()
            .filter(|(_, (_, used))| *used)
            .map(|(k, (o, _))| (k, o))
            .collect();
        used.sort_by_key(|(k, _)| **k);
        let mut out = StateWriter::new(MAGIC, 8 + used.len() * 40);
        out.u64(used.len() as u64);
        for (key, outcome) in used {
            out.bytes(key);
            match outcome {
                Outcome::Window(cps) => {
                    out.u8(0);
                    out.u32(cps.len() as u32);
                    for &(i, q) in cps {
                        out.u64(i as u64);
                        out.f64(q);
                    }
                }
                Outcome::Assessment(p, size) => {
                    out.u8(1);
                    out.f64(*p);
                    out.f64(*size);
                }
            }
        }
        out.finish()
    }

    /// Entries loaded or added, used or not.
    pub fn len(&self) -> usize {
        self.entries.lock().expect("memo lock").len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(super) fn get_or(&self, key: Key, compute: impl FnOnce() -> Outcome) -> Outcome {
        if let Some((outcome, used)) = self.entries.lock().expect("memo lock").get_mut(&key) {
            *used = true;
            return outcome.clone();
        }
        // Computed outside the lock: the other threads keep going.
        let outcome = compute();
        self.entries
            .lock()
            .expect("memo lock")
            .insert(key, (outcome.clone(), true));
        outcome
    }
}

/// The key of a computation: a tag, its integer inputs, the settings and
/// the exact bits of its values.
pub(super) fn key(tag: &str, ints: &[usize], cfg: &ChangePointConfig, values: &[f64]) -> Key {
    let mut h = Sha256::new();
    h.update(ALGORITHM.to_le_bytes());
    h.update(tag.as_bytes());
    for field in [
        cfg.window as u64,
        cfg.min_segment as u64,
        cfg.p_value.to_bits(),
        cfg.weak_p_value.to_bits(),
        cfg.permutations as u64,
        cfg.min_magnitude.to_bits(),
        cfg.min_shift_noise.to_bits(),
        cfg.seed,
        ints.len() as u64,
    ] {
        h.update(field.to_le_bytes());
    }
    for &i in ints {
        h.update((i as u64).to_le_bytes());
    }
    let mut bytes = Vec::with_capacity(values.len() * 8);
    for v in values {
        bytes.extend_from_slice(&v.to_bits().to_le_bytes());
    }
    h.update(&bytes);
    let digest = h.finalize();
    let mut key = [0u8; 16];
    key.copy_from_slice(&digest[..16]);
    key
}

fn parse(bytes: &[u8]) -> Option<HashMap<Key, (Outcome, bool)>> {
    let mut r = StateReader::open(bytes, MAGIC)?;
    let count = r.u64()? as usize;
    let mut entries = HashMap::with_capacity(count.min(r.remaining() / 17));
    for _ in 0..count {
        let key: Key = r.take(16)?.try_into().ok()?;
        let outcome = match r.u8()? {
            0 => {
                let n = r.u32()? as usize;
                let mut cps = Vec::with_capacity(n.min(64));
                for _ in 0..n {
                    cps.push((r.u64()? as usize, r.f64()?));
                }
                Outcome::Window(cps)
            }
            1 => Outcome::Assessment(r.f64()?, r.f64()?),
            _ => return None,
        };
        entries.insert(key, (outcome, false));
    }
    r.is_done().then_some(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_only_what_was_used() {
        let cfg = ChangePointConfig::default();
        let memo = ChangePointMemo::new();
        let a = key("w", &[0], &cfg, &[1.0, 2.0]);
        let b = key("a", &[0], &cfg, &[1.0, 2.0]);
        assert_ne!(a, b);
        assert_ne!(a, key("w", &[1], &cfg, &[1.0, 2.0]));
        assert_ne!(a, key("w", &[0], &cfg, &[1.0, 2.5]));
        let window = Outcome::Window(vec![(7, 1.25)]);
        assert_eq!(memo.get_or(a, || window.clone()), window);
        memo.get_or(b, || Outcome::Assessment(0.005, f64::INFINITY));
        let loaded = ChangePointMemo::from_bytes(&memo.to_bytes());
        assert_eq!(loaded.len(), 2);
        assert_eq!(loaded.get_or(a, || unreachable!()), window);
        // Only `a` was used since loading: `b` is forgotten on save.
        assert_eq!(ChangePointMemo::from_bytes(&loaded.to_bytes()).len(), 1);
        assert!(ChangePointMemo::from_bytes(b"garbage").is_empty());
        let bytes = memo.to_bytes();
        assert!(ChangePointMemo::from_bytes(&bytes[..bytes.len() - 1]).is_empty());
    }
}
