//! Deny-list pattern checks. The patterns end up in the `getaddrinfo` shim, which matches with
//! the C library's POSIX extended regexes inside the customer's function on every DNS lookup,
//! so only a safe, portable subset gets through: bounded length, host-name characters and
//! regex operators only, no escapes but `\.` and `\-`, and no repetition of anything that
//! itself repeats or alternates (`(a+)+`, `(a|ab)*`: the shapes that backtrack
//! catastrophically).

use regex_syntax::ast::{parse::Parser, Ast};

/// Longest deny-list or match pattern accepted.
pub const MAX_PATTERN_LEN: usize = 256;

/// `Ok` when `p` is safe to hand to the shim; otherwise why not.
pub fn check_deny_pattern(p: &str) -> Result<(), String> {
    if p.is_empty() || p.len() > MAX_PATTERN_LEN {
        return Err(format!(
            "pattern {p:?} must be 1 to {MAX_PATTERN_LEN} characters"
        ));
    }
    let mut chars = p.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            'a'..='z'
            | 'A'..='Z'
            | '0'..='9'
            | '.'
            | '-'
            | '_'
            | '*'
            | '+'
            | '?'
            | '^'
            | '$'
            | '|'
            | '('
            | ')'
            | '['
            | ']'
            | '{'
            | '}'
            | ',' => {}
            '\\' => match chars.next() {
                Some('.' | '-') => {}
                _ => {
                    return Err(format!(
                        "pattern {p:?}: only \\. and \\- escapes are allowed (POSIX ERE subset)"
                    ))
                }
            },
            other => {
                return Err(format!(
                    "pattern {p:?}: character {other:?} is not allowed in a host name pattern"
                ))
            }
        }
    }
    let ast = Parser::new()
        .parse(p)
        .map_err(|e| format!("pattern {p:?} is not a valid regex: {e}"))?;
    if risky(&ast, false) {
        return Err(format!(
            "pattern {p:?} repeats a repetition or an alternation, which can backtrack catastrophically; rewrite it without nesting"
        ));
    }
    Ok(())
}

/// Whether `ast` contains a repetition or alternation inside a repetition.
fn risky(ast: &Ast, under_repetition: bool) -> bool {
    match ast {
        Ast::Repetition(r) => under_repetition || risky(&r.ast, true),
        Ast::Alternation(a) => under_repetition || a.asts.iter().any(|x| risky(x, false)),
        Ast::Group(g) => risky(&g.ast, under_repetition),
        Ast::Concat(c) => c.asts.iter().any(|x| risky(x, under_repetition)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_host_patterns() {
        for p in [
            "s3.*.amazonaws.com",
            "^dynamodb\\.[a-z0-9-]+\\.amazonaws\\.com$",
            "^(api|www)\\.example\\.com$",
            "localhost",
            "x{1,3}",
        ] {
            assert_eq!(check_deny_pattern(p), Ok(()), "{p}");
        }
    }

    #[test]
    fn rejects_regex_bombs_and_unportable_syntax() {
        for p in [
            "(a+)+$",
            "(a*)*",
            "(a|aa)+",
            "((ab)*)+",
            "(x+x+)+y",
            "\\d+",
            "(a)\\1",
            "host name",
            "",
        ] {
            assert!(check_deny_pattern(p).is_err(), "{p}");
        }
        assert!(check_deny_pattern(&"a".repeat(MAX_PATTERN_LEN + 1)).is_err());
        assert!(check_deny_pattern("(unclosed").is_err());
    }
}
