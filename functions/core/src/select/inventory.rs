//! What the inventory shows, before any choice: the [`OptIn`] tag, [`Instance`]s, Auto Scaling
//! [`Group`]s and their [`Member`]s, Lambda [`Function`]s, gathered into an [`Inventory`].

use std::collections::BTreeMap;

/// The tag that opts a resource in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptIn {
    /// Tag key, `faultline:enabled` by default.
    pub key: String,
}

impl OptIn {
    /// The value that opts in.
    pub const VALUE: &'static str = "true";

    /// Whether `tags` opt in.
    pub fn allows(&self, tags: &BTreeMap<String, String>) -> bool {
        tags.get(&self.key).map(String::as_str) == Some(Self::VALUE)
    }
}

impl Default for OptIn {
    fn default() -> Self {
        Self {
            key: "faultline:enabled".to_owned(),
        }
    }
}

/// The tag AWS puts on every member of an Auto Scaling group.
pub const ASG_NAME_TAG: &str = "aws:autoscaling:groupName";

/// An EC2 instance as the inventory saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct Instance {
    /// Instance id.
    pub id: String,
    /// `running`, `stopped`, ...
    pub state: String,
    /// Its Availability Zone.
    pub zone: Option<String>,
    /// All its tags.
    pub tags: BTreeMap<String, String>,
}

impl Instance {
    /// The group it belongs to, if any.
    pub fn asg(&self) -> Option<&str> {
        self.tags.get(ASG_NAME_TAG).map(String::as_str)
    }
}

/// An Auto Scaling group as the inventory saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    /// Group name.
    pub name: String,
    /// `MinSize`.
    pub min_size: u32,
    /// `DesiredCapacity`.
    pub desired: u32,
    /// `VPCZoneIdentifier`: its subnets, comma-separated, in the group's order.
    pub subnets: String,
    /// The group's own tags.
    pub tags: BTreeMap<String, String>,
    /// Its instances.
    pub members: Vec<Member>,
}

/// An instance as its group sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    /// Instance id.
    pub id: String,
    /// `LifecycleState`: `InService`, `Pending`, `Terminating`, ...
    pub lifecycle: String,
    /// `HealthStatus` is `Healthy`.
    pub healthy: bool,
    /// Its Availability Zone.
    pub zone: Option<String>,
}

impl Member {
    pub(super) fn serving(&self) -> bool {
        self.lifecycle == "InService" && self.healthy
    }
}

impl Group {
    /// Healthy `InService` members.
    pub fn healthy_in_service(&self) -> u32 {
        self.members.iter().filter(|m| m.serving()).count() as u32
    }
}

/// A Lambda function as the inventory saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct Function {
    /// Function name.
    pub name: String,
    /// All its tags.
    pub tags: BTreeMap<String, String>,
    /// Why the action cannot be applied to it (no faultline layer, no event source mapping),
    /// if so: it is left out, and the plan says why.
    pub unfit: Option<String>,
}

/// What the inventory found: groups (for `asg-instance`, and the groups of any group members
/// among `ec2-instance` candidates), instances (for `ec2-instance`), functions (for
/// `lambda-function`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Inventory {
    /// Groups.
    pub groups: Vec<Group>,
    /// Instances.
    pub instances: Vec<Instance>,
    /// Lambda functions.
    pub functions: Vec<Function>,
}
