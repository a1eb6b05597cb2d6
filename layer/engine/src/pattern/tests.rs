//! The pattern checks' tests: failure-lambda's refusals, the shim's own limits, and the POSIX
//! translation run through the C library exactly as the shim runs it.
use super::*;

/// Whether glibc's `regexec` finds `ere` in `host`, compiled with the shim's flags.
fn posix_finds(ere: &str, host: &str) -> bool {
    let pat = std::ffi::CString::new(ere).unwrap();
    let host = std::ffi::CString::new(host).unwrap();
    // SAFETY: a zeroed regex_t is what regcomp expects to fill; freed below.
    unsafe {
        let mut re: libc::regex_t = std::mem::zeroed();
        let flags = libc::REG_EXTENDED | libc::REG_NOSUB | libc::REG_ICASE;
        assert_eq!(
            libc::regcomp(&mut re, pat.as_ptr(), flags),
            0,
            "{ere:?} does not compile"
        );
        let hit = libc::regexec(&re, host.as_ptr(), 0, std::ptr::null_mut(), 0) == 0;
        libc::regfree(&mut re);
        hit
    }
}

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
        let ere = deny_pattern(p).unwrap_or_else(|e| panic!("{p}: {e}"));
        posix_finds(&ere, "x");
    }
}

#[test]
fn translates_what_failure_lambda_users_write_into_posix() {
    for (p, ere, hits, misses) in [
        (
            r"^api\d+\.example\.com$",
            r"^api[0-9]+\.example\.com$",
            &["api1.example.com", "api42.example.com"][..],
            &["api.example.com", "apix.example.com"][..],
        ),
        (
            r"^\w+-db\.internal$",
            r"^[A-Za-z0-9_]+-db\.internal$",
            &["orders_1-db.internal"],
            &["-db.internal", "a.b-db.internal"],
        ),
        (
            r"(?:dynamodb|sqs)\.us-east-\d\.amazonaws\.com",
            r"(dynamodb|sqs)\.us-east-[0-9]\.amazonaws\.com",
            &[
                "dynamodb.us-east-1.amazonaws.com",
                "sqs.us-east-2.amazonaws.com",
            ],
            &["sns.us-east-1.amazonaws.com"],
        ),
        (r"^\S+$", r"^[^[:space:]]+$", &["a.b"], &["a b"]),
        (r"a\sb", r"a[[:space:]]b", &["a b"], &["ab"]),
        (r"^\D", r"^[^0-9]", &["a1"], &["1a"]),
        (r"^[\d.-]+$", r"^[0-9.-]+$", &["10.0.0-1"], &["10.a"]),
        (r"^[^\w]", r"^[^A-Za-z0-9_]", &["-a"], &["a-"]),
        (
            r"host.*?\.com",
            r"host.*\.com",
            &["host1.com"],
            &["host.org"],
        ),
        (r"^[\]a]", r"^[]a]", &["]x", "ax"], &["bx"]),
        (r"[\^-]", r"[-^]", &["a^b", "a-b"], &["ab"]),
        (r"a\/b", "a/b", &["a/b"], &["ab"]),
        (r"\{x\}", r"\{x}", &["{x}"], &["x"]),
        ("", "^", &["anything.example"], &[]),
    ] {
        assert_eq!(deny_pattern(p).as_deref(), Ok(ere), "{p}");
        for h in hits {
            assert!(posix_finds(ere, h), "{p} ({ere}) should find {h}");
        }
        for h in misses {
            assert!(!posix_finds(ere, h), "{p} ({ere}) should not find {h}");
        }
    }
}

#[test]
fn refuses_what_failure_lambda_refuses() {
    for p in [
        "(a+)+$",
        "(a*)*",
        "((ab)*)+",
        "(x+x+)+y",
        r"^(\d+)*$",
        "(a{1,})+",
        "(a)\\1",
        "(unclosed",
        "a(?=b)",
    ] {
        assert!(
            matches!(deny_pattern(p), Err(PatternError::Refused(_))),
            "{p}"
        );
    }
    assert!(matches!(
        deny_pattern(&"a".repeat(MAX_PATTERN_LEN + 1)),
        Err(PatternError::Refused(_))
    ));
    assert_eq!(
        deny_pattern(&"a".repeat(MAX_PATTERN_LEN)).as_deref(),
        Ok("a".repeat(MAX_PATTERN_LEN).as_str())
    );
}

#[test]
fn failure_lambda_unsafe_is_its_is_unsafe_regex() {
    // Cases from failure-lambda's src/__tests__/config.test.ts shapes and its algorithm.
    for p in [
        "(a+)+", "(a*)*", "(a+)*", "(a{2,})+", "((a+))+", "(a+){2}", "x(\\d+)+",
    ] {
        assert!(failure_lambda_unsafe(p), "{p}");
    }
    for p in [
        "(a|aa)+",
        "(a?)+",
        "(a{2})+",
        "[(a+)+]",
        "\\(a+\\)+",
        "(a+)",
        "(a+)?",
        "^api\\d+\\.example\\.com$",
    ] {
        assert!(!failure_lambda_unsafe(p), "{p}");
    }
}

#[test]
fn skips_alone_what_the_shim_cannot_run_safely() {
    for (p, why) in [
        ("(a|aa)+", "repeats a repetition or an alternation"),
        ("(ab?)*x", "repeats a repetition or an alternation"),
        ("\\bexample\\.com", "word boundary"),
        ("\\p{Greek}", "Unicode class"),
        ("(?i)example", "inline flags"),
        ("é\\.com", "non-ASCII"),
        ("[\\D]", "negated class"),
        ("(a|)", "empty alternative"),
    ] {
        match deny_pattern(p) {
            Err(PatternError::Unsupported(e)) => assert!(e.contains(why), "{p}: {e}"),
            other => panic!("{p}: {other:?}"),
        }
    }
    // Valid in failure-lambda and short enough, but five times longer once in POSIX form.
    let p = "\\w".repeat(100);
    assert!(
        matches!(deny_pattern(&p), Err(PatternError::Unsupported(e)) if e.contains("POSIX form"))
    );
}

/// The costliest shape still accepted: eight label-sized optional runs, 506 elements.
pub const WORST_ACCEPTED: &str = "[a-z0-9-]{0,63}[a-z0-9-]{0,63}[a-z0-9-]{0,63}[a-z0-9-]{0,63}\
                                  [a-z0-9-]{0,63}[a-z0-9-]{0,63}[a-z0-9-]{0,63}[a-z0-9-]{0,63}x$";

#[test]
fn the_worst_accepted_pattern_stays_fast_in_the_c_library() {
    let ere = deny_pattern(WORST_ACCEPTED).unwrap();
    let host = format!("{}.y", "a".repeat(251));
    let t = std::time::Instant::now();
    assert!(!posix_finds(&ere, &host));
    // Measured: ~0.6 ms to compile and ~6 ms to match on a 2-core machine.
    assert!(
        t.elapsed() < std::time::Duration::from_millis(500),
        "{:?}",
        t.elapsed()
    );
}

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
            "[a-z]{0,63}[a-z]{0,63}[a-z]{0,63}[a-z]{0,63}[a-z]{0,63}[a-z]{0,63}[a-z]{0,63}\
             [a-z]{0,63}[a-z]{0,63}",
            "expands to 567",
        ),
        ("(abcdefghi){0,63}", "expands to 567"),
    ] {
        match deny_pattern(p) {
            Err(PatternError::Unsupported(e)) => assert!(e.contains(why), "{p}: {e}"),
            other => panic!("{p}: {other:?}"),
        }
    }
}

#[test]
fn match_regexes_are_refused_as_failure_lambda_refuses_them() {
    assert!(match_regex(r"^/api/v\d+/").unwrap().is_match("/api/v2/x"));
    assert!(match_regex("(a+)+").is_err());
    assert!(match_regex("(").is_err());
    assert!(match_regex(&"a".repeat(MAX_PATTERN_LEN + 1)).is_err());
    assert!(match_regex(&"a".repeat(MAX_PATTERN_LEN)).is_ok());
}
