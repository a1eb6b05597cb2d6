//! faultline-core: the shared brain of faultline.
//!
//! # Layout
//!
//! - [`spec`]: the experiment spec, parsed and validated into types that cannot be invalid.
//! - [`settings`]: the monkey's deployment settings and their one parser, [`settings::settings_from`].
//! - [`clock`]: where "now" comes from ([`clock::SystemClock`], [`clock::FixedClock`]).
//! - [`window`]: recurring time windows, evaluated in their own time zone.
//! - [`calendar`]: freeze dates, the least time between two hits on one resource, and the
//!   random start of an experiment, pure.
//! - [`logging`]: one logging setup for the Lambda functions (Lambda's advanced logging controls).
//! - [`guards`]: the round-level guards (kill switch, windows, probability, stop alarms), pure.
//! - [`select`]: opt-in, health and blast radius: from inventory to chosen targets, pure.
//! - [`record`]: the typed experiment record (DynamoDB, through `aws::records`).
//! - [`outcome`]: what a round produced ([`outcome::RoundResult`], [`outcome::RoundOutcome`]).
//! - [`message`]: SNS subjects and plain-text bodies.
//! - [`recovery`]: recovered / not yet / timed out, time-to-recover from authoritative
//!   timestamps, and the closing message, pure.
//! - [`round`]: one monkey round, `plan` then `execute`, wiring the above to the AWS adapters in
//!   guard-chain order.
//! - [`abort`]: aborting an open experiment: roll back on the recorded targets, mark the record
//!   aborted once, one message and the `TimeToSafe` metric.
//! - [`act`]: the destructive calls of a round (EC2 / Auto Scaling actions, the agent via SSM).
//! - [`lambda`]: Lambda experiments: opted-in functions, what restores them, the change, the
//!   restore.
//! - [`monkey`]: one scheduled invocation (payload -> invocation -> round), independent of the
//!   Lambda runtime, which the monkey function and the tests drive.
//! - [`observe`]: what the recovery timer (and `faultline run`) sees of open records: groups,
//!   instances, alarms, launches, read through the adapters.
//! - [`zone`]: Availability Zone outages (plan, prepare, inject, restore) and gray failure
//!   toward zones.
//! - [`aws`]: thin AWS adapters (EC2, Auto Scaling, SSM, SNS, CloudWatch, EventBridge Scheduler)
//!   and a request counter.
//!
//! Domain logic takes its clock and RNG as arguments, so tests are deterministic and need no
//! network; AWS calls sit in `aws` and are tested against a local AWS (moto).

pub mod abort;
pub mod act;
pub mod aws;
pub mod calendar;
pub mod clock;
pub mod guards;
pub mod lambda;
pub mod logging;
pub mod message;
pub mod monkey;
pub mod observe;
pub mod outcome;
pub mod record;
pub mod recovery;
pub mod round;
pub mod select;
pub mod settings;
pub mod spec;
pub mod verdict;
pub mod window;
pub mod zone;
