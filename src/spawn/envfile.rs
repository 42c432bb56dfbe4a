//! The `environment-file` format: `NAME=value` lines.

use std::fmt;

/// A line of an environment-file that does not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EnvFileError {
    /// 1-based.
    pub(crate) line: usize,
    pub(crate) message: &'static str,
}

impl fmt::Display for EnvFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

/// One `NAME=value` of an environment-file, as bytes.
pub(crate) type EnvVar = (Vec<u8>, Vec<u8>);

/// Parses an environment-file into `(name, value)` pairs in file order
/// (a later duplicate wins once applied).
///
/// - Blank lines and lines whose first non-blank character is `#` are
///   skipped; a `#` after a value is part of the value.
/// - An optional `export ` prefix is allowed, as in shell snippets.
/// - `NAME` is `[A-Za-z_][A-Za-z0-9_]*`; blanks around `=` are dropped.
/// - A value in single quotes is taken literally; in double quotes `\"`,
///   `\\`, `` \` `` and `\$` lose their backslash, like sh; anything after
///   the closing quote is an error. An unquoted value is taken as written,
///   without trailing blanks. No variable expansion, no multi-line values.
/// - Values are bytes: the file need not be UTF-8.
pub(crate) fn parse_environment_file(text: &[u8]) -> Result<Vec<EnvVar>, EnvFileError> {
    let mut vars = Vec::new();
    for (index, line) in text.split(|&b| b == b'\n').enumerate() {
        let line = line.trim_ascii();
        if line.is_empty() || line.starts_with(b"#") {
            continue;
        }
        let error = |message| EnvFileError {
            line: index + 1,
            message,
        };
        let line = strip_export(line);
        let eq = line
            .iter()
            .position(|&b| b == b'=')
            .ok_or(error("expected NAME=value"))?;
        let name = line[..eq].trim_ascii_end();
        if !is_name(name) {
            return Err(error("invalid variable name"));
        }
        let value = unquote(line[eq + 1..].trim_ascii_start()).map_err(error)?;
        vars.push((name.to_vec(), value));
    }
    Ok(vars)
}

fn strip_export(line: &[u8]) -> &[u8] {
    match line.strip_prefix(b"export") {
        Some(rest) if rest.first().is_some_and(|b| b.is_ascii_whitespace()) => {
            rest.trim_ascii_start()
        }
        _ => line,
    }
}

fn is_name(name: &[u8]) -> bool {
    match name.split_first() {
        Some((first, rest)) => {
            (first.is_ascii_alphabetic() || *first == b'_')
                && rest.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'_')
        }
        None => false,
    }
}

fn unquote(raw: &[u8]) -> Result<Vec<u8>, &'static str> {
    match raw.first() {
        Some(b'\'') => match raw[1..].iter().position(|&b| b == b'\'') {
            Some(end) if end + 2 == raw.len() => Ok(raw[1..end + 1].to_vec()),
            Some(_) => Err("text after the closing quote"),
            None => Err("unterminated quote"),
        },
        Some(b'"') => {
            let mut value = Vec::with_capacity(raw.len());
            let mut bytes = raw[1..].iter();
            while let Some(&b) = bytes.next() {
                match b {
                    b'"' if bytes.len() == 0 => return Ok(value),
                    b'"' => return Err("text after the closing quote"),
                    b'\\' => match bytes.next() {
                        Some(&c) if matches!(c, b'"' | b'\\' | b'`' | b'$') => value.push(c),
                        Some(&c) => value.extend([b'\\', c]),
                        None => value.push(b'\\'),
                    },
                    _ => value.push(b),
                }
            }
            Err("unterminated quote")
        }
        _ => Ok(raw.to_vec()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Vec<(String, String)>, EnvFileError> {
        parse_environment_file(text.as_bytes()).map(|vars| {
            vars.into_iter()
                .map(|(n, v)| {
                    (
                        String::from_utf8_lossy(&n).into_owned(),
                        String::from_utf8_lossy(&v).into_owned(),
                    )
                })
                .collect()
        })
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn plain_lines_comments_and_blanks() {
        let text =
            "# comment\n\nA=1\n   # indented comment\nB = two words  \r\nC=\nD=x#not a comment\n";
        assert_eq!(
            parse(text),
            Ok(pairs(&[
                ("A", "1"),
                ("B", "two words"),
                ("C", ""),
                ("D", "x#not a comment")
            ]))
        );
    }

    #[test]
    fn export_prefix() {
        assert_eq!(
            parse("export A=1\nexport\tB=2\nexporter=3\n"),
            Ok(pairs(&[("A", "1"), ("B", "2"), ("exporter", "3")]))
        );
    }

    #[test]
    fn quotes() {
        let text = r#"A="  spaced  "
B='single $HOME \n'
C="esc \" \\ \$ \` \n"
D="it's"
E='say "hi"'
F=""
G=a"b"
"#;
        assert_eq!(
            parse(text),
            Ok(pairs(&[
                ("A", "  spaced  "),
                ("B", r"single $HOME \n"),
                ("C", r#"esc " \ $ ` \n"#),
                ("D", "it's"),
                ("E", r#"say "hi""#),
                ("F", ""),
                ("G", r#"a"b""#),
            ]))
        );
    }

    #[test]
    fn value_keeps_equals_signs() {
        assert_eq!(parse("OPTS=a=b=c"), Ok(pairs(&[("OPTS", "a=b=c")])));
    }

    #[test]
    fn errors_name_the_line() {
        let cases = [
            ("A=1\nno equals sign\n", 2, "expected NAME=value"),
            ("1A=x", 1, "invalid variable name"),
            ("=x", 1, "invalid variable name"),
            ("A B=x", 1, "invalid variable name"),
            ("\n\nA=\"open", 3, "unterminated quote"),
            ("A='open", 1, "unterminated quote"),
            ("A=\"x\" y", 1, "text after the closing quote"),
            ("A='x'y", 1, "text after the closing quote"),
        ];
        for (text, line, message) in cases {
            assert_eq!(parse(text), Err(EnvFileError { line, message }), "{text:?}");
        }
        let error = EnvFileError {
            line: 4,
            message: "unterminated quote",
        };
        assert_eq!(error.to_string(), "line 4: unterminated quote");
    }

    #[test]
    fn values_are_bytes() {
        let vars = parse_environment_file(b"A=\xff\xfe\n").expect("parses");
        assert_eq!(vars, [(b"A".to_vec(), vec![0xff, 0xfe])]);
    }
}
