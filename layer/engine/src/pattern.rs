//! Deny-list pattern checks. The patterns end up in the `getaddrinfo` shim, which matches with
//! the C library's POSIX extended regexes inside the customer's function on every DNS lookup,
//! so only a safe, portable subset gets through: bounded length, host-name characters and
//! regex operators only, no escapes but `\.` and `\-`, and no repetition of anything that
//! itself repeats or alternates (`(a+)+`, `(a|ab)*`: the shapes that backtrack
//! catastrophically).
//!
//! Bounded repetitions are expanded by the C library into one copy per count, so their cost
//! grows with the bound, not with the pattern's text: glibc took 47.6 s to compile
//! `[a-z0-9-]{1,32767}`, and matching cost grows with the square of the expanded size. So each
//! bound is capped at [`MAX_REPEAT`] (a DNS label's length) and the whole expanded pattern at
//! [`MAX_EXPANDED`], the size a plain pattern of the longest accepted text has anyway.

use regex_syntax::ast::{parse::Parser, Ast, RepetitionKind, RepetitionRange};

/// Longest deny-list or match pattern accepted.
pub const MAX_PATTERN_LEN: usize = 256;

/// Largest repetition bound accepted in a deny pattern (`{n}`, `{n,}`, `{m,n}`).
pub const MAX_REPEAT: u32 = 63;

/// Largest size of a deny pattern once its bounded repetitions are written out.
pub const MAX_EXPANDED: usize = MAX_PATTERN_LEN;

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
    if let Some(n) = largest_bound(&ast) {
        if n > MAX_REPEAT {
            return Err(format!(
                "pattern {p:?}: repetition bound {n} is above {MAX_REPEAT} (the longest DNS label); large bounds make the C library's regex compile and match slowly on every lookup"
            ));
        }
    }
    let expanded = expanded_size(&ast);
    if expanded > MAX_EXPANDED {
        return Err(format!(
            "pattern {p:?}: its repetitions expand to {expanded} elements, above {MAX_EXPANDED}; use fewer or smaller bounds (or `+`)"
        ));
    }
    Ok(())
}

/// The largest count written in a `{..}` repetition of `ast`.
fn largest_bound(ast: &Ast) -> Option<u32> {
    match ast {
        Ast::Repetition(r) => {
            let own = match &r.op.kind {
                RepetitionKind::Range(RepetitionRange::Exactly(n))
                | RepetitionKind::Range(RepetitionRange::AtLeast(n)) => Some(*n),
                RepetitionKind::Range(RepetitionRange::Bounded(m, n)) => Some(*m.max(n)),
                _ => None,
            };
            own.max(largest_bound(&r.ast))
        }
        Ast::Group(g) => largest_bound(&g.ast),
        Ast::Concat(c) => c.asts.iter().filter_map(largest_bound).max(),
        Ast::Alternation(a) => a.asts.iter().filter_map(largest_bound).max(),
        _ => None,
    }
}

/// How many elements `ast` has once every bounded repetition is written out as copies.
fn expanded_size(ast: &Ast) -> usize {
    match ast {
        Ast::Empty(_) | Ast::Flags(_) => 0,
        Ast::Repetition(r) => {
            let copies = match &r.op.kind {
                RepetitionKind::Range(RepetitionRange::Exactly(n))
                | RepetitionKind::Range(RepetitionRange::Bounded(_, n)) => *n as usize,
                RepetitionKind::Range(RepetitionRange::AtLeast(n)) => *n as usize + 1,
                _ => 1,
            };
            copies.saturating_mul(expanded_size(&r.ast))
        }
        Ast::Group(g) => expanded_size(&g.ast),
        Ast::Concat(c) => c.asts.iter().map(expanded_size).sum(),
        Ast::Alternation(a) => a.asts.iter().map(expanded_size).sum(),
        _ => 1,
    }
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
            "^[a-z0-9-]{1,63}\\.example\\.com$",
            "^[a-z0-9-]{1,63}\\.[a-z0-9-]{1,63}\\.example\\.com$",
            WORST_ACCEPTED,
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

    /// The costliest shape still accepted: four label-sized optional runs, 253 elements.
    /// `layer/shim/tests` times it in the C library on a 253-character host name.
    pub const WORST_ACCEPTED: &str =
        "[a-z0-9-]{0,63}[a-z0-9-]{0,63}[a-z0-9-]{0,63}[a-z0-9-]{0,63}x$";

    #[test]
    fn rejects_repetition_bounds_that_stall_the_c_regex_engine() {
        for (p, why) in [
            ("[a-z0-9-]{1,32767}", "bound 32767"),
            ("[a-z0-9-]{1,64}", "bound 64"),
            ("a{64}", "bound 64"),
            ("a{64,}", "bound 64"),
            ("a{64,64}", "bound 64"),
            ("(ab){1,200}", "bound 200"),
            (
                "[a-z]{0,63}[a-z]{0,63}[a-z]{0,63}[a-z]{0,63}[a-z]{0,63}",
                "expand to 315",
            ),
            ("(abcde){0,63}", "expand to 315"),
            ("a{60}|b{60}|c{60}|d{60}|e{60}", "expand to 300"),
        ] {
            let e = check_deny_pattern(p).expect_err(p);
            assert!(e.contains(why), "{p}: {e}");
        }
    }
}
