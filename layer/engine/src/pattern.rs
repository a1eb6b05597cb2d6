//! Deny-list and `match` pattern checks, read as failure-lambda reads them, and the deny-list
//! patterns' translation for the shim.
//!
//! failure-lambda (1.x, `src/config.ts`) refuses a pattern that is longer than 512 characters,
//! is no valid regular expression, or repeats a group that itself repeats (`(a+)+`,
//! `(\d+)*`, its `isUnsafeRegex`); it then skips the whole flag. [`deny_pattern`] and
//! [`match_regex`] refuse those the same way ([`PatternError::Refused`]).
//!
//! Deny patterns end up in the `getaddrinfo` shim, which matches with the C library's POSIX
//! extended regexes inside the customer's function on every DNS lookup. So a pattern
//! failure-lambda accepts is translated into POSIX ERE (`\d` -> `[0-9]`, `\w` ->
//! `[A-Za-z0-9_]`, `\s` -> `[[:space:]]`, `(?:..)` -> `(..)`, lazy quantifiers -> greedy: the
//! same host names match), and one the shim cannot run safely is skipped on its own
//! ([`PatternError::Unsupported`]; the flag's other patterns apply): a repetition of anything
//! that itself repeats or alternates (`(a|ab)*`, which backtracks in the C library), a
//! repetition bound above [`MAX_REPEAT`], more than [`MAX_EXPANDED`] elements once bounded
//! repetitions are written out (glibc copies the repeated part once per count: it took 47.6 s
//! to compile `[a-z0-9-]{1,32767}`), and what POSIX cannot say (`\b`, Unicode classes, inline
//! flags, non-ASCII characters).

use regex_syntax::ast::{
    parse::Parser, AssertionKind, Ast, ClassAsciiKind, ClassPerl, ClassPerlKind, ClassSet,
    ClassSetItem, GroupKind, RepetitionKind, RepetitionRange,
};

/// Longest deny-list or match pattern accepted: failure-lambda's `MAX_REGEX_LENGTH`.
pub const MAX_PATTERN_LEN: usize = 512;

/// Largest repetition bound accepted in a deny pattern (`{n}`, `{n,}`, `{m,n}`).
pub const MAX_REPEAT: u32 = 63;

/// Largest size of a deny pattern once its bounded repetitions are written out.
pub const MAX_EXPANDED: usize = MAX_PATTERN_LEN;

/// Longest translated pattern the shim reads (`MAX_PATTERN` in `layer/shim/deny.c`).
pub const MAX_SHIM_PATTERN: usize = 512;

/// Compiled-size bound for `match` regexes (linear-time engine; this bounds compile time).
pub const MATCH_REGEX_SIZE_LIMIT: usize = 1 << 20;

/// Why a pattern is not used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    /// failure-lambda refuses it too, and skips the flag that holds it.
    #[error("{0}")]
    Refused(String),
    /// failure-lambda would run it, but the shim cannot run it safely: only it is skipped.
    #[error("{0}")]
    Unsupported(String),
}

/// The POSIX ERE the shim runs for the deny pattern `p` (as failure-lambda's users write it,
/// a JavaScript-style regex tested against the host name), or why not.
pub fn deny_pattern(p: &str) -> Result<String, PatternError> {
    let ast = refused_by_failure_lambda(p)?;
    let unsupported = |why: String| Err(PatternError::Unsupported(format!("pattern {p:?} {why}")));
    if risky(&ast, false) {
        return unsupported(
            "repeats a repetition or an alternation, which can backtrack catastrophically in the \
             C library's regex; rewrite it without nesting"
                .into(),
        );
    }
    if let Some(n) = largest_bound(&ast) {
        if n > MAX_REPEAT {
            return unsupported(format!(
                "has repetition bound {n}, above {MAX_REPEAT} (the longest DNS label); large \
                 bounds make the C library's regex compile and match slowly on every lookup"
            ));
        }
    }
    let expanded = expanded_size(&ast);
    if expanded > MAX_EXPANDED {
        return unsupported(format!(
            "expands to {expanded} elements once its repetitions are written out, above \
             {MAX_EXPANDED}; use fewer or smaller bounds (or `+`)"
        ));
    }
    let mut ere = String::new();
    if let Err(why) = to_ere(&ast, &mut ere) {
        return unsupported(format!(
            "uses {why}, which the shim's POSIX regex cannot express"
        ));
    }
    if ere.is_empty() {
        // An empty JavaScript regex matches every host name.
        ere.push('^');
    }
    if ere.len() > MAX_SHIM_PATTERN {
        return unsupported(format!(
            "is {} characters in POSIX form ({ere:?}), above the shim's {MAX_SHIM_PATTERN}",
            ere.len()
        ));
    }
    Ok(ere)
}

/// `Ok` when `p` is a deny pattern the shim runs; otherwise why not.
pub fn check_deny_pattern(p: &str) -> Result<(), String> {
    deny_pattern(p).map(|_| ()).map_err(|e| e.to_string())
}

/// A `match` regex, refused as failure-lambda refuses it, compiled with a bounded size
/// (linear-time matching).
pub fn match_regex(p: &str) -> Result<regex_lite::Regex, PatternError> {
    refused_by_failure_lambda(p)?;
    regex_lite::RegexBuilder::new(p)
        .size_limit(MATCH_REGEX_SIZE_LIMIT)
        .build()
        .map_err(|e| PatternError::Refused(format!("regex {p:?} cannot be compiled: {e}")))
}

/// failure-lambda's own refusals: length, validity, nested quantifiers.
fn refused_by_failure_lambda(p: &str) -> Result<Ast, PatternError> {
    let len = p.chars().count();
    if len > MAX_PATTERN_LEN {
        return Err(PatternError::Refused(format!(
            "pattern of {len} characters is longer than {MAX_PATTERN_LEN} (failure-lambda's limit)"
        )));
    }
    let ast = Parser::new().parse(p).map_err(|e| {
        PatternError::Refused(format!(
            "pattern {p:?} is not a valid regular expression: {e}"
        ))
    })?;
    if failure_lambda_unsafe(p) {
        return Err(PatternError::Refused(format!(
            "pattern {p:?} repeats a group that repeats (nested quantifiers may cause excessive \
             backtracking), which failure-lambda refuses too"
        )));
    }
    Ok(ast)
}

/// failure-lambda's `isUnsafeRegex` (`src/config.ts`), character for character: a group
/// holding `+`, `*` or `{n,` that is followed by `+`, `*` or `{`.
pub fn failure_lambda_unsafe(pattern: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    if p.len() > MAX_PATTERN_LEN {
        return true;
    }
    let mut depth = 0usize;
    let mut quantified = vec![false];
    let mut i = 0;
    while i < p.len() {
        let ch = p[i];
        if ch == '\\' {
            i += 2;
            continue;
        }
        if ch == '[' {
            i += 1;
            while i < p.len() {
                if p[i] == '\\' {
                    i += 1;
                } else if p[i] == ']' {
                    break;
                }
                i += 1;
            }
            i += 1;
            continue;
        }
        if ch == '(' {
            depth += 1;
            if quantified.len() <= depth {
                quantified.resize(depth + 1, false);
            }
            quantified[depth] = false;
        } else if ch == ')' {
            let had = quantified.get(depth).copied().unwrap_or(false);
            depth = depth.saturating_sub(1);
            if had && matches!(p.get(i + 1), Some('+' | '*' | '{')) {
                return true;
            }
            if depth > 0 && had {
                quantified[depth] = true;
            }
        } else if depth > 0 && (ch == '+' || ch == '*') {
            quantified[depth] = true;
        } else if depth > 0 && ch == '{' {
            let digits = p[i + 1..].iter().take_while(|c| c.is_ascii_digit()).count();
            if digits > 0 && p.get(i + 1 + digits) == Some(&',') {
                quantified[depth] = true;
            }
        }
        i += 1;
    }
    false
}

/// Writes `ast` as POSIX ERE; `Err` names the construct POSIX cannot express.
fn to_ere(ast: &Ast, out: &mut String) -> Result<(), &'static str> {
    match ast {
        Ast::Empty(_) => Ok(()),
        Ast::Flags(_) => Err("inline flags"),
        Ast::Literal(l) => literal(l.c, out),
        Ast::Dot(_) => {
            out.push('.');
            Ok(())
        }
        Ast::Assertion(a) => {
            match a.kind {
                AssertionKind::StartLine | AssertionKind::StartText => out.push('^'),
                AssertionKind::EndLine | AssertionKind::EndText => out.push('$'),
                _ => return Err("a word boundary"),
            }
            Ok(())
        }
        Ast::ClassUnicode(_) => Err("a Unicode class"),
        Ast::ClassPerl(p) => {
            let mut set = Set::default();
            set.perl(p)?;
            set.write(p.negated, out)
        }
        Ast::ClassBracketed(b) => {
            let mut set = Set::default();
            match &b.kind {
                ClassSet::Item(item) => set.item(item)?,
                ClassSet::BinaryOp(_) => return Err("a class operation (&&, --, ~~)"),
            }
            set.write(b.negated, out)
        }
        Ast::Repetition(r) => {
            if matches!(*r.ast, Ast::Assertion(_) | Ast::Empty(_)) {
                return Err("a repeated anchor");
            }
            to_ere(&r.ast, out)?;
            match &r.op.kind {
                RepetitionKind::ZeroOrOne => out.push('?'),
                RepetitionKind::ZeroOrMore => out.push('*'),
                RepetitionKind::OneOrMore => out.push('+'),
                RepetitionKind::Range(RepetitionRange::Exactly(n)) => {
                    out.push_str(&format!("{{{n}}}"))
                }
                RepetitionKind::Range(RepetitionRange::AtLeast(n)) => {
                    out.push_str(&format!("{{{n},}}"))
                }
                RepetitionKind::Range(RepetitionRange::Bounded(m, n)) => {
                    out.push_str(&format!("{{{m},{n}}}"))
                }
            }
            Ok(())
        }
        Ast::Group(g) => {
            if let GroupKind::NonCapturing(flags) = &g.kind {
                if !flags.items.is_empty() {
                    return Err("inline flags");
                }
            }
            if matches!(*g.ast, Ast::Empty(_)) {
                return Err("an empty group");
            }
            out.push('(');
            to_ere(&g.ast, out)?;
            out.push(')');
            Ok(())
        }
        Ast::Alternation(a) => {
            for (i, branch) in a.asts.iter().enumerate() {
                if matches!(branch, Ast::Empty(_)) {
                    return Err("an empty alternative");
                }
                if i > 0 {
                    out.push('|');
                }
                to_ere(branch, out)?;
            }
            Ok(())
        }
        Ast::Concat(c) => c.asts.iter().try_for_each(|x| to_ere(x, out)),
    }
}

/// A literal character, escaped where ERE gives it a meaning.
fn literal(c: char, out: &mut String) -> Result<(), &'static str> {
    if !c.is_ascii() || c.is_ascii_control() {
        return Err("a non-ASCII or control character");
    }
    if "^.[$()|*+?{\\".contains(c) {
        out.push('\\');
    }
    out.push(c);
    Ok(())
}

/// A character class being written as a POSIX bracket expression.
#[derive(Default)]
struct Set {
    chars: std::collections::BTreeSet<char>,
    ranges: Vec<(char, char)>,
    named: Vec<&'static str>,
}

impl Set {
    fn perl(&mut self, p: &ClassPerl) -> Result<(), &'static str> {
        match p.kind {
            ClassPerlKind::Digit => self.ranges.push(('0', '9')),
            ClassPerlKind::Word => {
                self.ranges.extend([('A', 'Z'), ('a', 'z'), ('0', '9')]);
                self.chars.insert('_');
            }
            ClassPerlKind::Space => self.named.push("[:space:]"),
        }
        Ok(())
    }

    fn item(&mut self, item: &ClassSetItem) -> Result<(), &'static str> {
        match item {
            ClassSetItem::Empty(_) => {}
            ClassSetItem::Literal(l) => {
                if !l.c.is_ascii() || l.c.is_ascii_control() {
                    return Err("a non-ASCII or control character");
                }
                self.chars.insert(l.c);
            }
            ClassSetItem::Range(r) => {
                let ok = |c: char| c.is_ascii_alphanumeric();
                if !ok(r.start.c) || !ok(r.end.c) {
                    return Err("a class range between non-alphanumeric characters");
                }
                self.ranges.push((r.start.c, r.end.c));
            }
            ClassSetItem::Ascii(a) => {
                if a.negated {
                    return Err("a negated POSIX class inside a class");
                }
                self.named.push(match a.kind {
                    ClassAsciiKind::Alnum => "[:alnum:]",
                    ClassAsciiKind::Alpha => "[:alpha:]",
                    ClassAsciiKind::Blank => "[:blank:]",
                    ClassAsciiKind::Cntrl => "[:cntrl:]",
                    ClassAsciiKind::Digit => "[:digit:]",
                    ClassAsciiKind::Graph => "[:graph:]",
                    ClassAsciiKind::Lower => "[:lower:]",
                    ClassAsciiKind::Print => "[:print:]",
                    ClassAsciiKind::Punct => "[:punct:]",
                    ClassAsciiKind::Space => "[:space:]",
                    ClassAsciiKind::Upper => "[:upper:]",
                    ClassAsciiKind::Xdigit => "[:xdigit:]",
                    ClassAsciiKind::Word => {
                        self.ranges.extend([('A', 'Z'), ('a', 'z'), ('0', '9')]);
                        self.chars.insert('_');
                        return Ok(());
                    }
                    ClassAsciiKind::Ascii => return Err("the [:ascii:] class"),
                });
            }
            ClassSetItem::Unicode(_) => return Err("a Unicode class"),
            ClassSetItem::Perl(p) => {
                if p.negated {
                    return Err("a negated class (\\D, \\W, \\S) inside a class");
                }
                self.perl(p)?;
            }
            ClassSetItem::Bracketed(_) => return Err("a nested class"),
            ClassSetItem::Union(u) => u.items.iter().try_for_each(|i| self.item(i))?,
        }
        Ok(())
    }

    /// `]` first, `[` after the ordinary members, `^` never first, `-` last.
    fn write(&self, negated: bool, out: &mut String) -> Result<(), &'static str> {
        if !negated && self.ranges.is_empty() && self.named.is_empty() && self.chars.len() == 1 {
            let c = *self.chars.iter().next().expect("one member");
            return literal(c, out);
        }
        let mut body = String::new();
        if self.chars.contains(&']') {
            body.push(']');
        }
        for (a, b) in &self.ranges {
            body.push(*a);
            body.push('-');
            body.push(*b);
        }
        for n in &self.named {
            body.push_str(n);
        }
        for c in &self.chars {
            if !matches!(c, ']' | '[' | '^' | '-') {
                body.push(*c);
            }
        }
        if self.chars.contains(&'[') {
            body.push('[');
        }
        let dash = self.chars.contains(&'-');
        let mut dash_done = false;
        if self.chars.contains(&'^') {
            if body.is_empty() && !negated {
                // `[^` would negate: lead with the dash (there is one, or this were a literal).
                body.push('-');
                dash_done = true;
            }
            body.push('^');
        }
        if dash && !dash_done {
            body.push('-');
        }
        if body.is_empty() {
            return Err("an empty class");
        }
        out.push('[');
        if negated {
            out.push('^');
        }
        out.push_str(&body);
        out.push(']');
        Ok(())
    }
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
mod tests;
