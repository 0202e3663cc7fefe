//! `~/.netrc` as `perfkit review` reads Gerrit's credentials from it:
//! errors never quote a token but keywords and the host's name.
#![no_main]

use libfuzzer_sys::fuzz_target;
use perfkit_gerrit::credentials::netrc_lookup;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(message) = netrc_lookup(text, "review.opendev.org") {
        // Keywords and the host's own name (matched in any case) may be
        // named; no other token may.
        const NAMED: [&str; 6] = [
            "machine", "default", "login", "password", "account", "macdef",
        ];
        let named = |t: &str| {
            let t = t.trim_matches(['`', '"']);
            NAMED.contains(&t) || t.eq_ignore_ascii_case("review.opendev.org")
        };
        // What the message says besides those names: a token of the file
        // that merely spells part of a name it gives (`assword\``) is not
        // quoted.
        let mut rest = message.to_ascii_lowercase();
        for name in NAMED.iter().chain(&["review.opendev.org"]) {
            rest = rest.replace(name, " ");
        }
        let tokens = text
            .split_whitespace()
            .filter(|t| t.len() >= 8 && !named(t));
        for token in tokens {
            assert!(
                !rest.contains(&token.to_ascii_lowercase()),
                "the error quotes a token"
            );
        }
    }
});
