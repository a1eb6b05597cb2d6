//! IAM consistency: each function's policy in `terraform/iam.tf` allows exactly the AWS
//! operations its code calls (collected from the source, see `faultline_e2e::iam`), so a new SDK
//! call without a policy change fails here, and so does a permission nothing uses any more.

use anyhow::Result;
use faultline_e2e::iam::{self, Sources, FUNCTIONS};
use faultline_e2e::workspace_root;

fn policies() -> Result<std::collections::BTreeMap<String, Vec<iam::Statement>>> {
    let hcl = std::fs::read_to_string(workspace_root().join("terraform/iam.tf"))?;
    iam::policy_documents(&hcl)
}

#[test]
fn every_function_policy_allows_exactly_what_its_code_calls() -> Result<()> {
    let sources = Sources::load(&workspace_root())?;
    let docs = policies()?;
    let mut problems = Vec::new();
    for (doc, dir) in FUNCTIONS {
        let code = sources.operations(dir)?;
        assert!(
            !code.is_empty(),
            "{dir}: no AWS operation found; the scan is broken"
        );
        let statements = docs
            .get(*doc)
            .unwrap_or_else(|| panic!("terraform/iam.tf has no aws_iam_policy_document \"{doc}\""));
        problems.extend(iam::differences(doc, &code, statements));
        eprintln!("{doc}: {code:?}");
    }
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
    Ok(())
}

#[test]
fn the_collection_finds_what_each_function_is_known_to_call() -> Result<()> {
    let sources = Sources::load(&workspace_root())?;
    let monkey = sources.operations("functions/monkey")?;
    for op in [
        "ec2:DescribeInstances",
        "ec2:TerminateInstances",
        "autoscaling:TerminateInstanceInAutoScalingGroup",
        "ssm:SendCommand",
        "ssm:GetParameter",
        "sns:Publish",
    ] {
        assert!(monkey.contains(op), "monkey: {op} missing from {monkey:?}");
    }
    // The monkey never deletes records or writes metrics; the timer never acts on instances.
    assert!(!monkey.contains("ssm:DeleteParameters"), "{monkey:?}");
    let timer = sources.operations("functions/recovery-timer")?;
    assert!(timer.contains("cloudwatch:PutMetricData"), "{timer:?}");
    assert!(
        !timer
            .iter()
            .any(|op| op.contains("Terminate") && op.starts_with("ec2:")),
        "{timer:?}"
    );
    let notifier = sources.operations("functions/notifier")?;
    assert_eq!(
        notifier.into_iter().collect::<Vec<_>>(),
        ["ssm:GetParameter"],
        "the notifier only reads its webhook"
    );
    Ok(())
}

#[test]
fn a_new_sdk_call_or_a_stale_permission_fails_the_check() -> Result<()> {
    let root = workspace_root();
    let docs = policies()?;
    let monkey = &docs["monkey"];

    // A new SDK call in an adapter the monkey reaches, without a policy change.
    let mut sources = Sources::load(&root)?;
    let ec2 = sources.core.get_mut("ec2").unwrap();
    let at = ec2.find("pub async fn act(").expect("ec2::act exists");
    let body = at + ec2[at..].find('{').unwrap() + 1;
    ec2.insert_str(body, " let _ = client.create_volume(); ");
    let code = sources.operations("functions/monkey")?;
    let problems = iam::differences("monkey", &code, monkey);
    assert!(
        problems
            .iter()
            .any(|p| p.contains("ec2:CreateVolume") && p.contains("does not allow")),
        "{problems:?}"
    );

    // A permission the code no longer needs.
    let code = Sources::load(&root)?.operations("functions/monkey")?;
    let mut stale = monkey.clone();
    stale[0].actions.push("ec2:CreateVolume".to_owned());
    let problems = iam::differences("monkey", &code, &stale);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].contains("stale permission"), "{problems:?}");

    // A Runtime statement cannot smuggle in an API permission.
    let mut smuggled = monkey.clone();
    smuggled.push(iam::Statement {
        sid: "RuntimeExtra".to_owned(),
        actions: vec!["ec2:TerminateInstances".to_owned()],
    });
    let problems = iam::differences("monkey", &code, &smuggled);
    assert!(
        problems
            .iter()
            .any(|p| p.contains("Runtime statement grants ec2:TerminateInstances")),
        "{problems:?}"
    );
    Ok(())
}
