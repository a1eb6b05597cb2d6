#!/usr/bin/env python3
"""Seeding and verification for `scripts/bench` at any fleet size (the peer's ctk_seed.py only
knows its fixed cases).

Talks to the private moto server through boto3 (AWS_ENDPOINT_URL must point at it).

  bench-fleet.py reset                 POST /moto-api/reset
  bench-fleet.py seed N [GROUP]        N instances in N/GROUP Auto Scaling groups of GROUP
                                       (default 100), each group tagged chaos-opt-in=true;
                                       prints the seconds it took
  bench-fleet.py snapshot FILE         record every group's InService members (JSON)
  bench-fleet.py amis FILE             write a moto AMI catalogue holding only the AMI used here
                                       (for MOTO_AMIS_PATH: moto otherwise filters ~1,300
                                       AMIs for every instance it launches)
  bench-fleet.py table NAME            create the experiment records' DynamoDB table (as
                                       terraform/records.tf declares it)
  bench-fleet.py verify FILE PERCENT [TABLE]
                                       check that exactly PERCENT % of each recorded group is
                                       terminated and no other instance is, and (with TABLE)
                                       that the one experiment record lists exactly those
                                       targets; prints one line, exits 3 when not

Seeding: one launch template, then one CreateAutoScalingGroup per group with
DesiredCapacity=GROUP (moto launches the members synchronously inside that call: one request
per group, the quickest way moto 5.2.5 offers; RunInstances + AttachInstances takes one request
per 20 instances more).
"""
import json
import os
import sys
import time
import urllib.request

import boto3
from botocore.config import Config

AMI = "ami-03cf127a"  # one of moto's built-in AMIs
AMI_ENTRY = {  # its entry in moto's catalogue (moto/ec2/resources/amis.json.gz)
    "ami_id": AMI, "state": "available", "public": True, "owner_id": "801119661308",
    "image_location": "amazon/getting-started", "sriov": "simple", "root_device_type": "ebs",
    "root_device_name": "/dev/sda1",
    "description": "Microsoft Windows Server 2016 Nano Locale English AMI provided by Amazon",
    "image_type": "machine", "platform": "windows", "architecture": "x86_64",
    "name": "Windows_Server-2016-English-Nano-Base-2017.10.13", "virtualization_type": "hvm",
    "hypervisor": "xen"}
LT = "bench-lt"
AZS = ["us-east-1a", "us-east-1b", "us-east-1c"]
TAG_KEY = "chaos-opt-in"

# moto is slow at 10,000 instances: generous timeouts, no retries (a retry would double-act).
CFG = Config(read_timeout=1800, connect_timeout=10,
             retries={"max_attempts": 1, "mode": "standard"})


def clients():
    return (boto3.client("ec2", config=CFG),
            boto3.client("autoscaling", config=CFG))


def reset():
    url = os.environ["AWS_ENDPOINT_URL"].rstrip("/") + "/moto-api/reset"
    urllib.request.urlopen(urllib.request.Request(url, method="POST"),
                           timeout=600).read()


def seed(n, group):
    if n % group:
        raise SystemExit(f"fleet size {n} is not a multiple of the group size {group}")
    ec2, asg = clients()
    t0 = time.monotonic()
    ec2.create_launch_template(
        LaunchTemplateName=LT,
        LaunchTemplateData={"ImageId": AMI, "InstanceType": "t3.micro"})
    for g in range(n // group):
        name = f"bench-{g:03d}"
        asg.create_auto_scaling_group(
            AutoScalingGroupName=name,
            LaunchTemplate={"LaunchTemplateName": LT, "Version": "$Latest"},
            MinSize=0, MaxSize=group, DesiredCapacity=group,
            AvailabilityZones=AZS,
            Tags=[{"ResourceId": name, "ResourceType": "auto-scaling-group",
                   "Key": TAG_KEY, "Value": "true", "PropagateAtLaunch": False}])
    print(f"{time.monotonic() - t0:.1f}")


def asg_members(asg, names=None):
    out = {}
    kw = {"AutoScalingGroupNames": names} if names else {}
    for page in asg.get_paginator("describe_auto_scaling_groups").paginate(**kw):
        for g in page["AutoScalingGroups"]:
            out[g["AutoScalingGroupName"]] = [
                i["InstanceId"] for i in g["Instances"]
                if i["LifecycleState"] == "InService"]
    return out


def terminated_ids(ec2):
    """Ids of every terminated instance. Filtered on the server: describing all of 10,000
    instances takes moto many minutes, the terminated ones (about a tenth) far less."""
    out = set()
    pages = ec2.get_paginator("describe_instances").paginate(
        Filters=[{"Name": "instance-state-name", "Values": ["terminated"]}],
        PaginationConfig={"PageSize": 1000})
    for page in pages:
        for r in page["Reservations"]:
            out.update(i["InstanceId"] for i in r["Instances"])
    return out


def snapshot(path):
    _, asg = clients()
    members = asg_members(asg)
    with open(path, "w") as f:
        json.dump(members, f)
    n = sum(len(v) for v in members.values())
    print(f"before: groups={len(members)} in_service={n}", file=sys.stderr)


def record_targets(table):
    """The target ids of the one record in `table` (None when there is not exactly one)."""
    items = []
    for page in boto3.client("dynamodb", config=CFG).get_paginator("scan").paginate(TableName=table):
        items += page["Items"]
    if len(items) != 1:
        return None
    rec = json.loads(items[0]["record"]["S"])
    return {(t.get("id") or t.get("instance_id")) if isinstance(t, dict) else t
            for t in rec.get("targets", [])}


def verify(path, percent, table=None):
    ec2, _ = clients()
    with open(path) as f:
        members = json.load(f)
    gone = terminated_ids(ec2)
    per_group = {name: sum(1 for i in ids if i in gone) for name, ids in members.items()}
    expected = {name: len(ids) * percent // 100 for name, ids in members.items()}
    term = sum(per_group.values())
    all_term = len(gone)
    wrong = sum(1 for name in members if per_group[name] != expected[name])
    ok = wrong == 0 and all_term == term
    rec = ""
    if table:
        recorded = record_targets(table)
        ok = ok and recorded == gone
        rec = f" record_targets={'none' if recorded is None else len(recorded)}"
    print(f"after: groups={len(members)} terminated={term} "
          f"expected={sum(expected.values())} groups_wrong={wrong} "
          f"all_ec2_terminated={all_term}{rec} ok={ok}")
    return 0 if ok else 3


def table(name):
    def gsi(index, hash_key):
        return {"IndexName": index,
                "KeySchema": [{"AttributeName": hash_key, "KeyType": "HASH"},
                              {"AttributeName": "started_at", "KeyType": "RANGE"}],
                "Projection": {"ProjectionType": "ALL"}}
    boto3.client("dynamodb", config=CFG).create_table(
        TableName=name, BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": a, "AttributeType": "S"}
                              for a in ("id", "open", "kind", "started_at")],
        GlobalSecondaryIndexes=[gsi("open", "open"), gsi("history", "kind")])


def main(argv):
    cmd = argv[1] if len(argv) > 1 else ""
    if cmd == "reset":
        reset()
    elif cmd == "seed":
        seed(int(argv[2]), int(argv[3]) if len(argv) > 3 else 100)
    elif cmd == "snapshot":
        snapshot(argv[2])
    elif cmd == "amis":
        with open(argv[2], "w") as f:
            json.dump([AMI_ENTRY], f)
    elif cmd == "table":
        table(argv[2])
    elif cmd == "verify":
        return verify(argv[2], int(argv[3]), argv[4] if len(argv) > 4 else None)
    else:
        raise SystemExit(__doc__)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
