//! Target selection: from what the inventory shows to the instances a round will hit.
//!
//! Pure: it takes the inventory and an RNG, so tests are deterministic and need no network.
//! The order follows the guard chain: opt-in tag → running / `InService` and `Healthy` only →
//! blast radius (selection, `max_targets`, never below a group's floor) → degraded groups are
//! spared.
//!
//! # Layout
//!
//! Everything public is re-exported here (`select::plan`, `select::Target`, ...).
//!
//! - `inventory.rs`: [`OptIn`], [`Instance`], [`Group`], [`Member`], [`Inventory`]: what AWS
//!   showed.
//! - `eligibility.rs`: who may be hit before any choice ([`Target`]) and each group's budget
//!   ([`GroupPlan`]).
//! - `choose.rs`: [`plan`] (the draw, within every cap, into a [`Plan`]) and [`changes_since`].
//!
//! Imports run one way: `choose` → `eligibility` → `inventory`.

mod choose;
mod eligibility;
mod inventory;

#[cfg(test)]
mod tests;

pub use self::choose::{changes_since, plan, Plan};
pub use self::eligibility::{GroupPlan, Target};
pub use self::inventory::{Function, Group, Instance, Inventory, Member, OptIn, ASG_NAME_TAG};
