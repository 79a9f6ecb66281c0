//! Path patterns for per-file response rules (`Cache-Control` values).
//!
//! A pattern is a glob over a file's path under the served root, written
//! with a leading `/` (`/assets/app.js`):
//! - `*` matches any run of characters within one segment (not `/`);
//! - `**` matches any run of characters, `/` included; `/**/` also matches
//!   a single `/` (zero directories), so `/a/**/b` matches `/a/b`;
//! - `?` matches one character other than `/`;
//! - a pattern without any `/` is matched against the file name alone, in
//!   any directory (as in `.gitignore`): `*.js` is every JavaScript file;
//! - otherwise the pattern is anchored at the root (the leading `/` may be
//!   omitted: `assets/**` is `/assets/**`).
//!
//! Matching is a linear-space dynamic programme over (pattern, path), so no
//! pattern can make it exponential.

/// One element of a compiled pattern.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Token {
    Byte(u8),
    /// `?`
    One,
    /// `*`
    Star,
    /// `**`
    Globstar,
    /// `/**/`: one `/`, or `/…/`.
    SlashGlobstarSlash,
}

/// A compiled path pattern; see the module documentation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PathPattern {
    tokens: Vec<Token>,
    /// Matched against the file name only.
    name_only: bool,
}

impl PathPattern {
    /// Compiles `pattern`.
    ///
    /// ```
    /// use osprey_static::rules::PathPattern;
    /// assert!(PathPattern::new("*.js").matches("/lib/app.js"));
    /// assert!(PathPattern::new("/assets/**").matches("/assets/img/a.png"));
    /// assert!(!PathPattern::new("/assets/*").matches("/assets/img/a.png"));
    /// ```
    pub fn new(pattern: &str) -> PathPattern {
        let name_only = !pattern.contains('/');
        let anchored = if name_only || pattern.starts_with('/') {
            pattern.to_string()
        } else {
            format!("/{pattern}")
        };
        let b = anchored.as_bytes();
        let mut tokens = Vec::with_capacity(b.len());
        let mut i = 0;
        while i < b.len() {
            if b[i..].starts_with(b"/**/") {
                tokens.push(Token::SlashGlobstarSlash);
                i += 4;
                // `/**/` leaves us after a `/`: a following `**` is redundant.
                continue;
            }
            match b[i] {
                b'*' if b.get(i + 1) == Some(&b'*') => {
                    tokens.push(Token::Globstar);
                    i += 2;
                    while b.get(i) == Some(&b'*') {
                        i += 1;
                    }
                    continue;
                }
                b'*' => tokens.push(Token::Star),
                b'?' => tokens.push(Token::One),
                c => tokens.push(Token::Byte(c)),
            }
            i += 1;
        }
        PathPattern { tokens, name_only }
    }

    /// Whether `path` (a path under the root with a leading `/`) matches.
    pub fn matches(&self, path: &str) -> bool {
        let text = if self.name_only {
            path.rsplit('/').next().unwrap_or(path)
        } else {
            path
        };
        matches_tokens(&self.tokens, text.as_bytes())
    }
}

/// `dp[j]`: whether the tokens so far match `text[..j]`.
fn matches_tokens(tokens: &[Token], text: &[u8]) -> bool {
    let n = text.len();
    let mut dp = vec![false; n + 1];
    dp[0] = true;
    let mut next = vec![false; n + 1];
    for &t in tokens {
        next.iter_mut().for_each(|x| *x = false);
        match t {
            Token::Byte(c) => {
                for j in 0..n {
                    next[j + 1] = dp[j] && text[j] == c;
                }
            }
            Token::One => {
                for j in 0..n {
                    next[j + 1] = dp[j] && text[j] != b'/';
                }
            }
            Token::Star => {
                // Extends a match over any run of non-`/` bytes.
                next[0] = dp[0];
                for j in 1..=n {
                    next[j] = dp[j] || (next[j - 1] && text[j - 1] != b'/');
                }
            }
            Token::Globstar => {
                next[0] = dp[0];
                for j in 1..=n {
                    next[j] = dp[j] || next[j - 1];
                }
            }
            Token::SlashGlobstarSlash => {
                // `/` then anything ending in `/`, or just one `/`.
                let mut open = false; // some dp[i] with a `/` at text[i]
                for j in 0..n {
                    if dp[j] && text[j] == b'/' {
                        open = true;
                    }
                    next[j + 1] = open && text[j] == b'/';
                }
            }
        }
        std::mem::swap(&mut dp, &mut next);
    }
    dp[n]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        let cases: &[(&str, &str, bool)] = &[
            ("*.js", "/app.js", true),
            ("*.js", "/lib/deep/app.js", true),
            ("*.js", "/app.json", false),
            ("*.js", "/js/app", false),
            ("app.?s", "/x/app.js", true),
            ("app.?s", "/x/app.s", false),
            ("/app.js", "/app.js", true),
            ("/app.js", "/lib/app.js", false),
            ("app/x.js", "/app/x.js", true),
            ("/assets/*", "/assets/a.png", true),
            ("/assets/*", "/assets/img/a.png", false),
            ("/assets/*", "/assets/", true),
            ("/assets/**", "/assets/img/a.png", true),
            ("/assets/**", "/assets", false),
            ("/**", "/anything/at/all", true),
            ("**", "/anything/at/all", true),
            ("/**/*.css", "/a.css", true),
            ("/**/*.css", "/x/y/a.css", true),
            ("/**/*.css", "/x/y/a.js", false),
            ("/a/**/b", "/a/b", true),
            ("/a/**/b", "/a/x/y/b", true),
            ("/a/**/b", "/a/xb", false),
            ("/a/**/b", "/ab", false),
            ("/*/index.html", "/docs/index.html", true),
            ("/*/index.html", "/index.html", false),
            ("/*/index.html", "/a/b/index.html", false),
            ("/a***b", "/a/x/b", true),
            ("*", "/x/anything", true),
            ("", "/x", false),
            ("/", "/", true),
        ];
        for &(pattern, path, want) in cases {
            assert_eq!(
                PathPattern::new(pattern).matches(path),
                want,
                "{pattern} vs {path}"
            );
        }
    }

    #[test]
    fn many_stars_stay_linear() {
        let pattern = PathPattern::new(&"*a".repeat(50));
        let text = format!("/{}b", "a".repeat(4000));
        assert!(!pattern.matches(&text));
    }
}
