//! A `Read` adapter that makes Python's JSON strict: `json.dumps` writes
//! non-finite floats as the bare tokens `Infinity`, `-Infinity` and `NaN`
//! (Rally does, e.g. a periodic hook trigger's `"end": Infinity`), which
//! serde_json refuses. Outside strings they are rewritten into the JSON
//! strings `"Infinity"`, `"-Infinity"` and `"NaN"`; the Rally parsers read
//! those strings back as `f64` where they expect a number.
//!
//! The rewrite is a byte state machine that survives any chunking of the
//! input (a token or an escape split across two reads). Text inside JSON
//! strings is never touched. Everything else is passed through unchanged,
//! so invalid JSON stays invalid and serde_json reports it. Each rewritten
//! token adds two quote bytes, which shifts the columns serde_json reports
//! later on the same line (Rally writes one key per line, so in practice
//! only that line's tail).

use std::io::{self, Read};

const CHUNK: usize = 64 * 1024;

/// The bare words Python writes for non-finite floats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Word {
    Infinity,
    NaN,
}

impl Word {
    fn text(self) -> &'static [u8] {
        match self {
            Word::Infinity => b"Infinity",
            Word::NaN => b"NaN",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Outside any string.
    Normal,
    InString,
    /// Just after a backslash inside a string.
    Escape,
    /// A `-` outside a string, held back until we know whether `Infinity` follows.
    Minus,
    /// Part of a bare word matched: `matched` bytes of `word`, after a `-` if `negative`.
    Word {
        word: Word,
        matched: usize,
        negative: bool,
    },
}

/// Rewrites Python's non-finite float tokens into JSON strings while reading.
pub struct NonFiniteFilter<R> {
    inner: R,
    raw: Box<[u8]>,
    out: Vec<u8>,
    out_pos: usize,
    state: State,
    eof: bool,
}

impl<R: Read> NonFiniteFilter<R> {
    /// Wraps `inner`; wrap the filter in a `BufReader` for byte-wise readers.
    pub fn new(inner: R) -> Self {
        Self {
            inner,
            raw: vec![0; CHUNK].into_boxed_slice(),
            out: Vec::with_capacity(CHUNK + 64),
            out_pos: 0,
            state: State::Normal,
            eof: false,
        }
    }

    fn refill(&mut self) -> io::Result<()> {
        self.out.clear();
        self.out_pos = 0;
        let n = loop {
            match self.inner.read(&mut self.raw) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        };
        if n == 0 {
            self.eof = true;
            flush_pending(&mut self.state, &mut self.out);
        } else {
            rewrite(&mut self.state, &self.raw[..n], &mut self.out);
        }
        Ok(())
    }
}

impl<R: Read> Read for NonFiniteFilter<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.out_pos == self.out.len() {
            if self.eof || buf.is_empty() {
                return Ok(0);
            }
            self.refill()?;
        }
        let pending = &self.out[self.out_pos..];
        let n = pending.len().min(buf.len());
        buf[..n].copy_from_slice(&pending[..n]);
        self.out_pos += n;
        Ok(n)
    }
}

/// At end of input, a held-back `-` or a partial word is written as it was.
fn flush_pending(state: &mut State, out: &mut Vec<u8>) {
    match *state {
        State::Minus => out.push(b'-'),
        State::Word {
            word,
            matched,
            negative,
        } => {
            if negative {
                out.push(b'-');
            }
            out.extend_from_slice(&word.text()[..matched]);
        }
        State::Normal | State::InString | State::Escape => {}
    }
    *state = State::Normal;
}

/// Rewrites one chunk of input into `out`, carrying `state` to the next chunk.
fn rewrite(state: &mut State, input: &[u8], out: &mut Vec<u8>) {
    let mut i = 0;
    while i < input.len() {
        match *state {
            State::Normal => {
                let start = i;
                while i < input.len() && !matches!(input[i], b'"' | b'-' | b'I' | b'N') {
                    i += 1;
                }
                out.extend_from_slice(&input[start..i]);
                let Some(&b) = input.get(i) else { break };
                i += 1;
                *state = match b {
                    b'"' => {
                        out.push(b);
                        State::InString
                    }
                    b'-' => State::Minus,
                    b'I' => State::Word {
                        word: Word::Infinity,
                        matched: 1,
                        negative: false,
                    },
                    _ => State::Word {
                        word: Word::NaN,
                        matched: 1,
                        negative: false,
                    },
                };
            }
            State::InString => {
                let start = i;
                while i < input.len() && !matches!(input[i], b'"' | b'\\') {
                    i += 1;
                }
                out.extend_from_slice(&input[start..i]);
                let Some(&b) = input.get(i) else { break };
                out.push(b);
                i += 1;
                *state = if b == b'"' {
                    State::Normal
                } else {
                    State::Escape
                };
            }
            State::Escape => {
                out.push(input[i]);
                i += 1;
                *state = State::InString;
            }
            State::Minus => {
                if input[i] == b'I' {
                    i += 1;
                    *state = State::Word {
                        word: Word::Infinity,
                        matched: 1,
                        negative: true,
                    };
                } else {
                    // A negative number: the byte is handled again in Normal.
                    out.push(b'-');
                    *state = State::Normal;
                }
            }
            State::Word {
                word,
                matched,
                negative,
            } => {
                let text = word.text();
                if input[i] == text[matched] {
                    i += 1;
                    if matched + 1 == text.len() {
                        out.push(b'"');
                        if negative {
                            out.push(b'-');
                        }
                        out.extend_from_slice(text);
                        out.push(b'"');
                        *state = State::Normal;
                    } else {
                        *state = State::Word {
                            word,
                            matched: matched + 1,
                            negative,
                        };
                    }
                } else {
                    // Not a word we know: pass it through for serde_json to reject.
                    flush_pending(state, out);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Yields at most `step` bytes per read, to split tokens anywhere.
    struct Trickle<'a> {
        data: &'a [u8],
        step: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.step.min(buf.len()).min(self.data.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    fn filtered(input: &str, step: usize) -> String {
        let mut out = String::new();
        NonFiniteFilter::new(Trickle {
            data: input.as_bytes(),
            step,
        })
        .read_to_string(&mut out)
        .unwrap();
        out
    }

    const CASES: &[(&str, &str)] = &[
        (r#"{"end": Infinity}"#, r#"{"end": "Infinity"}"#),
        (
            r#"[-Infinity,NaN, Infinity]"#,
            r#"["-Infinity","NaN", "Infinity"]"#,
        ),
        (r#"[-1.5e-3, -0, 2]"#, r#"[-1.5e-3, -0, 2]"#),
        // Words inside strings, escaped quotes and backslashes are left alone.
        (
            r#"{"msg": "NaN or Infinity \"Infinity\" \\", "x": NaN}"#,
            r#"{"msg": "NaN or Infinity \"Infinity\" \\", "x": "NaN"}"#,
        ),
        (r#"{"Infinity": -Infinity}"#, r#"{"Infinity": "-Infinity"}"#),
        (r#"[true, false, null]"#, r#"[true, false, null]"#),
        // Not Python's words: passed through unchanged (serde_json rejects them).
        (r#"[Inf, Nope, -x, -"#, r#"[Inf, Nope, -x, -"#),
        (r#"[NaN"#, r#"["NaN""#),
        (r#"[Infin"#, r#"[Infin"#),
    ];

    #[test]
    fn rewrites_bare_words_outside_strings_for_any_chunking() {
        for (input, expected) in CASES {
            for step in 1..=input.len() + 1 {
                assert_eq!(
                    &filtered(input, step),
                    expected,
                    "input {input} step {step}"
                );
            }
        }
    }

    #[test]
    fn output_parses_and_keeps_strings() {
        let input = r#"{"a": [Infinity, -Infinity, NaN], "s": "x\\\"NaN\"", "n": -2}"#;
        let v: serde_json::Value = serde_json::from_str(&filtered(input, 1)).unwrap();
        assert_eq!(v["a"], serde_json::json!(["Infinity", "-Infinity", "NaN"]));
        assert_eq!(v["s"], "x\\\"NaN\"");
        assert_eq!(v["n"], -2);
    }

    #[test]
    fn large_input_crosses_internal_chunks() {
        let unit = r#"{"k": "Infinity \" NaN", "v": -Infinity},"#;
        let n = 2 * CHUNK / unit.len() + 3;
        let input = format!("[{}0]", unit.repeat(n));
        let out = filtered(&input, 7777);
        assert_eq!(out.matches(r#""-Infinity""#).count(), n);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v.as_array().unwrap().len(), n + 1);
        assert_eq!(v[n - 1]["k"], "Infinity \" NaN");
    }
}
