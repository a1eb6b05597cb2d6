//! faultline-core: the shared brain of faultline.
//!
//! # Layout
//!
//! - [`spec`]: the experiment spec, parsed and validated into types that cannot be invalid.
//! - [`window`]: recurring time windows, evaluated in their own time zone.
//! - [`logging`]: JSON logs for the Lambda functions.
//! - [`guards`]: the round-level guards (kill switch, windows, probability, stop alarms), pure.
//! - [`select`]: opt-in, health and blast radius: from inventory to chosen targets, pure.
//! - [`record`]: the experiment record kept in SSM for the recovery timer.
//! - [`message`]: SNS subjects and plain-text bodies.
//! - [`recovery`]: recovered / not yet / timed out, time-to-recover from authoritative
//!   timestamps, and the closing message, pure.
//! - [`round`]: one monkey round, wiring the above to the AWS adapters in guard-chain order.
//! - [`aws`]: thin AWS adapters (EC2, Auto Scaling, SSM, SNS, CloudWatch) and a request counter.
//!
//! Domain logic takes its clock and RNG as arguments, so tests are deterministic and need no
//! network; AWS calls sit in `aws` and are tested against a local AWS (moto).

pub mod aws;
pub mod guards;
pub mod logging;
pub mod message;
pub mod record;
pub mod recovery;
pub mod round;
pub mod select;
pub mod spec;
pub mod window;
