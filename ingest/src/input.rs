//! What kind of result a path holds, told from the content: a Rally
//! report, a Locust `--csv` set (its prefix, its directory or its stats
//! file) or `--json` report, or a fio JSON report. Rally reports can be
//! hundreds of megabytes and keep their streaming path (`pipeline`); the
//! others are small and are read whole here.

use std::io::Read;
use std::path::{Path, PathBuf};

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::IngestError;
use crate::fio;
use crate::limits::{MAX_MEASURED_FILE_BYTES, thousands};
use crate::locust::{self, CsvSet};
use crate::measured::Measured;

/// How much of a file is read to tell its kind.
const HEAD: usize = 4096;

/// The kind of result at a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    Rally,
    LocustCsv(CsvSet),
    LocustJson,
    Fio,
}

/// Tells what `path` holds. A path that is no file and no Locust prefix is
/// a read error; anything unrecognized goes to the Rally parser, whose
/// error says what was expected.
pub fn detect(path: &Path) -> Result<Input, IngestError> {
    if let Some(set) = locust::find_csv_set(path)? {
        let head = head(&set.stats)?;
        if locust::is_stats_header(&head) {
            return Ok(Input::LocustCsv(set));
        }
    }
    let head = head(path)?;
    if locust::is_stats_header(&head) {
        return Ok(Input::LocustCsv(CsvSet {
            stats: path.to_path_buf(),
            history: None,
            failures: None,
            exceptions: None,
            window: None,
        }));
    }
    if fio::json_start(&head).is_some() {
        return Ok(Input::Fio);
    }
    let first = head.iter().find(|b| !b.is_ascii_whitespace());
    let finder = |needle: &[u8]| memchr::memmem::find(&head, needle).is_some();
    if first == Some(&b'[') && finder(b"\"num_requests\"") && finder(b"\"num_failures\"") {
        return Ok(Input::LocustJson);
    }
    Ok(Input::Rally)
}

fn head(path: &Path) -> Result<Vec<u8>, IngestError> {
    let read_error = |source| IngestError::Read {
        path: path.to_path_buf(),
        source,
    };
    let mut file = std::fs::File::open(path).map_err(read_error)?;
    let mut head = Vec::with_capacity(HEAD);
    (&mut file)
        .take(HEAD as u64)
        .read_to_end(&mut head)
        .map_err(read_error)?;
    Ok(head)
}

impl Input {
    /// The files behind the input (one, except a Locust CSV set).
    pub fn files(&self, path: &Path) -> Vec<PathBuf> {
        match self {
            Input::LocustCsv(set) => set.files().into_iter().map(Path::to_path_buf).collect(),
            _ => vec![path.to_path_buf()],
        }
    }
}

/// The bytes of every file of an input.
pub struct Contents {
    pub files: Vec<(PathBuf, Vec<u8>)>,
}

impl Contents {
    pub fn read(files: &[PathBuf]) -> Result<Contents, IngestError> {
        let files = files
            .iter()
            .map(|p| read_whole(p).map(|bytes| (p.clone(), bytes)))
            .collect::<Result<_, _>>()?;
        Ok(Contents { files })
    }

    pub fn bytes(&self) -> u64 {
        self.files.iter().map(|(_, b)| b.len() as u64).sum()
    }

    /// SHA-256 of the content: of the file itself for one file (as for a
    /// Rally report); for a Locust CSV set, of each file's role (name after
    /// the prefix), length and bytes in a fixed order, so the digest does
    /// not depend on the prefix or the directory.
    pub fn sha256(&self) -> String {
        let mut hasher = Sha256::new();
        if let [(_, bytes)] = self.files.as_slice() {
            hasher.update(bytes);
        } else {
            for (path, bytes) in &self.files {
                let name = path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let role = name
                    .rfind("_stats")
                    .or_else(|| name.rfind('_'))
                    .map_or(name.as_str(), |i| &name[i..]);
                hasher.update(role.as_bytes());
                hasher.update([0]);
                hasher.update((bytes.len() as u64).to_le_bytes());
                hasher.update(bytes);
            }
        }
        hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

/// The bytes of a Locust or fio file, refused past
/// [`MAX_MEASURED_FILE_BYTES`] (they are read whole and parsed into
/// memory several times their size).
pub fn read_whole(path: &Path) -> Result<Vec<u8>, IngestError> {
    let read_error = |source| IngestError::Read {
        path: path.to_path_buf(),
        source,
    };
    let too_large = |size: u64| IngestError::Invalid {
        path: path.to_path_buf(),
        place: "the whole file".into(),
        message: format!(
            "{} bytes, more than {} MiB (perfkit's limit for a Locust or fio file)",
            thousands(size),
            MAX_MEASURED_FILE_BYTES >> 20
        ),
        hint: crate::limits::HINT.into(),
    };
    let file = std::fs::File::open(path).map_err(read_error)?;
    let size = file.metadata().map_err(read_error)?.len();
    if size > MAX_MEASURED_FILE_BYTES {
        return Err(too_large(size));
    }
    let mut bytes = Vec::with_capacity(size as usize);
    // `take`: a file that grows, or has no size (a pipe), stops here too.
    file.take(MAX_MEASURED_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(read_error)?;
    if bytes.len() as u64 > MAX_MEASURED_FILE_BYTES {
        return Err(too_large(bytes.len() as u64));
    }
    Ok(bytes)
}

/// Parses a Locust or fio input whose contents were read.
pub fn parse_measured(
    input: &Input,
    path: &Path,
    contents: &Contents,
    job: &str,
) -> Result<Measured, IngestError> {
    match input {
        Input::LocustCsv(set) => locust::parse_csv(set, job),
        Input::LocustJson => {
            let bytes = &contents.files[0].1;
            let value: Value = serde_json::from_slice(bytes).map_err(|e| IngestError::Invalid {
                path: path.to_path_buf(),
                place: format!("line {}, column {}", e.line(), e.column()),
                message: crate::limits::json_error_text(&e),
                hint:
                    "pass the complete file `locust --json-file NAME` wrote (or `--json` printed)"
                        .into(),
            })?;
            locust::parse_json(path, &value, job)
        }
        Input::Fio => {
            let bytes = &contents.files[0].1;
            let start = fio::json_start(bytes).unwrap_or(0);
            fio::parse(path, &bytes[start..], job)
        }
        Input::Rally => unreachable!("Rally reports take the streaming path"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locust_and_fio_files_past_the_size_limit_are_not_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fio.json");
        // Sparse: no disk space, and refused before a byte is read.
        let file = std::fs::File::create(&path).unwrap();
        file.set_len(MAX_MEASURED_FILE_BYTES + 1).unwrap();
        let err = read_whole(&path).unwrap_err();
        assert!(matches!(err, IngestError::Invalid { .. }), "{err:?}");
        let text = err.to_string();
        assert!(text.contains("fio.json"), "{text}");
        assert!(
            text.contains("268,435,457 bytes, more than 256 MiB (perfkit's limit"),
            "{text}"
        );
        assert!(err.hint().unwrap().contains("limits"));
        file.set_len(10).unwrap();
        assert_eq!(read_whole(&path).unwrap(), vec![0; 10]);
    }
}
