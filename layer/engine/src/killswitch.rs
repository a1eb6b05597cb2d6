//! The kill switch, read the way the monkey reads it (`faultline-core`'s `guards::kill_switch`):
//! only `true` (any case, surrounding white space ignored) lets faults through; `false` halts,
//! and so does a switch that is missing (deleting it during a halt must not resume chaos) or
//! holds anything else (a typo in a safety switch must fail safe). Pure: the value is read with
//! the config, in one `GetParameters` call, by [`crate::live`].

/// The parameter's default name, the one the monkey, the CLI and Terraform use.
pub const DEFAULT_PARAM: &str = "/faultline/enabled";

/// Why the kill switch stops every fault. Each message says what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Halt {
    /// The parameter does not exist.
    #[error(
        "the kill switch {param} does not exist: no faults are injected until it does; create \
         it with `faultline resume` or Terraform, or point FAULTLINE_KILL_SWITCH_PARAM at your \
         deployment's kill switch"
    )]
    Missing {
        /// The parameter's name.
        param: String,
    },
    /// `false`: `faultline halt` was run.
    #[error(
        "the kill switch {param} is false (halted): no faults are injected until it is set to \
         true (`faultline resume`)"
    )]
    Off {
        /// The parameter's name.
        param: String,
    },
    /// Neither `true` nor `false`.
    #[error(
        "the kill switch {param} holds {value:?}: no faults are injected until it holds true \
         (run) or false (halt)"
    )]
    Invalid {
        /// The parameter's name.
        param: String,
        /// What it holds.
        value: String,
    },
}

/// The kind of [`Halt`], without the text (to log each kind of halt once).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HaltKind {
    /// [`Halt::Missing`].
    Missing,
    /// [`Halt::Off`].
    Off,
    /// [`Halt::Invalid`].
    Invalid,
}

impl Halt {
    /// Its kind.
    pub fn kind(&self) -> HaltKind {
        match self {
            Halt::Missing { .. } => HaltKind::Missing,
            Halt::Off { .. } => HaltKind::Off,
            Halt::Invalid { .. } => HaltKind::Invalid,
        }
    }
}

/// `Ok` when the switch named `param`, holding `value` (`None`: it does not exist), lets faults
/// through.
pub fn check(param: &str, value: Option<&str>) -> Result<(), Halt> {
    let param = param.to_owned();
    match value.map(|v| v.trim().to_ascii_lowercase()) {
        None => Err(Halt::Missing { param }),
        Some(v) if v == "true" => Ok(()),
        Some(v) if v == "false" => Err(Halt::Off { param }),
        Some(_) => Err(Halt::Invalid {
            param,
            value: value.unwrap_or_default().to_owned(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_true_lets_faults_through() {
        assert_eq!(check("/p", Some("true")), Ok(()));
        assert_eq!(check("/p", Some(" TRUE\n")), Ok(()));
        let off = check("/p", Some("false")).unwrap_err();
        assert_eq!(off.kind(), HaltKind::Off);
        assert!(off.to_string().contains("/p is false"), "{off}");
        assert!(off.to_string().contains("faultline resume"), "{off}");
        let missing = check("/p", None).unwrap_err();
        assert_eq!(missing.kind(), HaltKind::Missing);
        for what_to_do in [
            "faultline resume",
            "Terraform",
            "FAULTLINE_KILL_SWITCH_PARAM",
        ] {
            assert!(missing.to_string().contains(what_to_do), "{missing}");
        }
        let typo = check("/p", Some("flase")).unwrap_err();
        assert_eq!(typo.kind(), HaltKind::Invalid);
        assert!(typo.to_string().contains("\"flase\""), "{typo}");
        assert_eq!(check("/p", Some("")).unwrap_err().kind(), HaltKind::Invalid);
    }
}
