"""Drives the cic-bridge emulator through Tencent's own Python SDK, unchanged.

Started by run.sh, which passes the emulator's address and credentials in the environment.
If the SDK can talk to the emulator, so can any client built on Tencent's published behaviour.
"""

import json
import os
import time
import unittest
import urllib.request

from tencentcloud.common import credential
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile
from tencentcloud.organization.v20210331 import models, organization_client

ENDPOINT = os.environ["EMULATOR_ENDPOINT"]
ZONE = os.environ["EMULATOR_ZONE_ID"]
MEMBER = int(os.environ["EMULATOR_MEMBER_UIN"])
DEPARTMENT_MEMBER = int(os.environ["EMULATOR_DEPARTMENT_MEMBER_UIN"])


def client(secret_key=None):
    cred = credential.Credential(
        os.environ["TENCENTCLOUD_SECRET_ID"],
        secret_key or os.environ["TENCENTCLOUD_SECRET_KEY"],
    )
    http = HttpProfile(protocol="http", endpoint=ENDPOINT, reqTimeout=10)
    return organization_client.OrganizationClient(cred, "", ClientProfile(httpProfile=http))


def request(model, **fields):
    req = model()
    req.from_json_string(json.dumps(fields))
    return req


class SdkAgainstEmulator(unittest.TestCase):
    def assert_code(self, ctx, code):
        self.assertEqual(ctx.exception.get_code(), code, ctx.exception.get_message())
        self.assertTrue(ctx.exception.get_request_id(), "the SDK reads the RequestId")

    def test_describe_identity_center(self):
        resp = client().DescribeIdentityCenter(models.DescribeIdentityCenterRequest())
        self.assertEqual(resp.ZoneId, ZONE)
        self.assertEqual(resp.ServiceStatus, "Enabled")
        self.assertTrue(resp.RequestId)

    def test_create_user_then_duplicate_email(self):
        c = client()
        resp = c.CreateUser(request(
            models.CreateUserRequest, ZoneId=ZONE, UserName="sdk-alice", FirstName="Alice",
            LastName="Smith", Email="sdk-alice@example.com"))
        self.assertTrue(resp.UserInfo.UserId.startswith("u-"))
        self.assertEqual(resp.UserInfo.Email, "sdk-alice@example.com")
        self.assertEqual(resp.UserInfo.UserType, "Manual")
        got = c.GetUser(request(models.GetUserRequest, ZoneId=ZONE, UserId=resp.UserInfo.UserId))
        self.assertEqual(got.UserInfo.FirstName, "Alice")

        with self.assertRaises(TencentCloudSDKException) as ctx:
            c.CreateUser(request(
                models.CreateUserRequest, ZoneId=ZONE, UserName="sdk-alice-2",
                Email="sdk-alice@example.com"))
        self.assert_code(ctx, "InvalidParameter.EmailAlreadyExists")
        with self.assertRaises(TencentCloudSDKException) as ctx:
            c.CreateUser(request(models.CreateUserRequest, ZoneId=ZONE, UserName="sdk-alice"))
        self.assert_code(ctx, "InvalidParameter.UsernameAlreadyExists")

    def test_role_assignment_task_polled_to_success(self):
        c = client()
        rc = c.CreateRoleConfiguration(request(
            models.CreateRoleConfigurationRequest, ZoneId=ZONE, RoleConfigurationName="sdk-admin"))
        rc_id = rc.RoleConfigurationInfo.RoleConfigurationId
        group = c.CreateGroup(request(models.CreateGroupRequest, ZoneId=ZONE, GroupName="sdk-admins"))
        group_id = group.GroupInfo.GroupId
        created = c.CreateRoleAssignment(request(
            models.CreateRoleAssignmentRequest, ZoneId=ZONE,
            RoleAssignmentInfo=[{
                "RoleConfigurationId": rc_id, "PrincipalType": "Group", "PrincipalId": group_id,
                "TargetType": "MemberUin", "TargetUin": MEMBER,
            }]))
        self.assertEqual(len(created.Tasks), 1)
        task = created.Tasks[0]
        self.assertEqual(task.Status, "InProgress")
        self.assertEqual(task.TaskType, "CreateRoleAssignment")

        deadline = time.monotonic() + 15
        status = None
        while time.monotonic() < deadline:
            status = c.GetTaskStatus(request(
                models.GetTaskStatusRequest, ZoneId=ZONE, TaskId=task.TaskId)).TaskStatus
            if status.Status in ("Success", "Failed"):
                break
            time.sleep(0.1)
        self.assertIsNotNone(status)
        self.assertEqual(status.Status, "Success", status.FailureReason)

        listed = c.ListRoleAssignments(request(
            models.ListRoleAssignmentsRequest, ZoneId=ZONE, PrincipalId=group_id))
        self.assertEqual(listed.TotalCounts, 1)
        self.assertEqual(listed.RoleAssignments[0].TargetUin, MEMBER)
        deployed = c.ListRoleConfigurationProvisionings(request(
            models.ListRoleConfigurationProvisioningsRequest, ZoneId=ZONE, RoleConfigurationId=rc_id))
        self.assertEqual(deployed.RoleConfigurationProvisionings[0].DeploymentStatus, "Deployed")

    def test_pagination_tokens(self):
        c = client()
        for i in range(12):
            c.CreateGroup(request(models.CreateGroupRequest, ZoneId=ZONE, GroupName="sdk-page-%02d" % i))
        seen = []
        token = None
        while True:
            fields = {"ZoneId": ZONE, "MaxResults": 5, "Filter": "GroupName sw sdk-page-"}
            if token:
                fields["NextToken"] = token
            page = c.ListGroups(request(models.ListGroupsRequest, **fields))
            seen.extend(g.GroupName for g in page.Groups)
            if not page.IsTruncated:
                break
            token = page.NextToken
        self.assertEqual(seen, ["sdk-page-%02d" % i for i in range(12)])

    def test_wrong_key_is_a_signature_failure(self):
        with self.assertRaises(TencentCloudSDKException) as ctx:
            client(secret_key="not-the-key").DescribeIdentityCenter(models.DescribeIdentityCenterRequest())
        self.assert_code(ctx, "AuthFailure.SignatureFailure")

    def test_unknown_user_is_not_found(self):
        with self.assertRaises(TencentCloudSDKException) as ctx:
            client().GetUser(request(models.GetUserRequest, ZoneId=ZONE, UserId="u-doesnotexist"))
        self.assert_code(ctx, "ResourceNotFound.UserNotExist")


class SdkOrganizationAgainstEmulator(unittest.TestCase):
    """The Organization's department tree (DescribeOrganizationNodes and the node actions)."""

    def assert_code(self, ctx, code):
        self.assertEqual(ctx.exception.get_code(), code, ctx.exception.get_message())

    def all_nodes(self, c, limit=50, **fields):
        nodes, offset = [], 0
        while True:
            page = c.DescribeOrganizationNodes(request(
                models.DescribeOrganizationNodesRequest, Limit=limit, Offset=offset, **fields))
            nodes.extend(page.Items or [])
            offset += limit
            if offset >= page.Total:
                return nodes, page.Total

    def members(self, c, **fields):
        return c.DescribeOrganizationMembers(request(
            models.DescribeOrganizationMembersRequest, Offset=0, Limit=50, **fields)).Items

    def root_id(self, c):
        nodes, _ = self.all_nodes(c)
        return next(n.NodeId for n in nodes if n.ParentNodeId == 0)

    def test_describe_nodes_pages_by_offset_and_limit(self):
        c = client()
        root = self.root_id(c)
        added = [
            c.AddOrganizationNode(request(
                models.AddOrganizationNodeRequest, ParentNodeId=root, Name="sdk-page-%d" % i)).NodeId
            for i in range(6)
        ]
        nodes, total = self.all_nodes(c, limit=4)
        ids = [n.NodeId for n in nodes]
        self.assertEqual(len(ids), total)
        self.assertEqual(ids, sorted(set(ids)), "sorted by NodeId, each once")
        self.assertTrue(set(added) <= set(ids))
        with self.assertRaises(TencentCloudSDKException) as ctx:
            c.DescribeOrganizationNodes(request(models.DescribeOrganizationNodesRequest, Limit=4, Offset=2))
        self.assert_code(ctx, "InvalidParameter")
        with self.assertRaises(TencentCloudSDKException) as ctx:
            c.DescribeOrganizationNodes(request(models.DescribeOrganizationNodesRequest, Limit=51, Offset=0))
        self.assert_code(ctx, "InvalidParameterValue")
        with self.assertRaises(TencentCloudSDKException) as ctx:
            c.DescribeOrganizationMembers(request(models.DescribeOrganizationMembersRequest, Limit=2, Offset=1))
        self.assert_code(ctx, "InvalidParameter")
        c.DeleteOrganizationNodes(request(models.DeleteOrganizationNodesRequest, NodeId=added))

    def test_departments_members_and_their_lifecycle(self):
        c = client()
        root = self.root_id(c)
        by_uin = {m.MemberUin: m for m in self.members(c)}
        self.assertEqual((by_uin[MEMBER].NodeId, by_uin[MEMBER].NodeName), (root, "Root"))
        self.assertEqual(by_uin[MEMBER].MemberType, "Create")
        production = by_uin[DEPARTMENT_MEMBER]
        self.assertEqual(production.NodeName, "Production")
        self.assertEqual([(t.TagKey, t.TagValue) for t in production.Tags], [("env", "prod")])
        tagged = self.members(c, Tags=[{"TagKey": "env", "TagValue": "prod"}])
        self.assertEqual([m.MemberUin for m in tagged], [DEPARTMENT_MEMBER])

        node = c.AddOrganizationNode(request(
            models.AddOrganizationNodeRequest, ParentNodeId=production.NodeId, Name="sdk-Payments",
            Remark="made by the SDK test", Tags=[{"TagKey": "team", "TagValue": "pay"}])).NodeId
        with self.assertRaises(TencentCloudSDKException) as ctx:
            c.AddOrganizationNode(request(
                models.AddOrganizationNodeRequest, ParentNodeId=production.NodeId, Name="sdk-Payments"))
        self.assert_code(ctx, "FailedOperation.OrganizationNodeNameUsed")
        with self.assertRaises(TencentCloudSDKException) as ctx:
            c.AddOrganizationNode(request(
                models.AddOrganizationNodeRequest, ParentNodeId=root, Name="sdk payments"))
        self.assert_code(ctx, "InvalidParameter")

        c.UpdateOrganizationNode(request(models.UpdateOrganizationNodeRequest, NodeId=node, Name="sdk-Pay"))
        found, _ = self.all_nodes(c, Tags=[{"TagKey": "team", "TagValue": "pay"}])
        self.assertEqual([(n.NodeId, n.Name, n.ParentNodeId) for n in found], [(node, "sdk-Pay", production.NodeId)])
        self.assertEqual(found[0].Remark, "made by the SDK test")
        with self.assertRaises(TencentCloudSDKException) as ctx:
            c.UpdateOrganizationNode(request(models.UpdateOrganizationNodeRequest, NodeId=987654, Name="x"))
        self.assert_code(ctx, "FailedOperation.OrganizationNodeNotExist")

        c.MoveOrganizationNodeMembers(request(
            models.MoveOrganizationNodeMembersRequest, NodeId=node, MemberUin=[MEMBER]))
        moved = self.members(c, NodeId=node)
        self.assertEqual([(m.MemberUin, m.NodeName) for m in moved], [(MEMBER, "sdk-Pay")])
        with self.assertRaises(TencentCloudSDKException) as ctx:
            c.MoveOrganizationNodeMembers(request(
                models.MoveOrganizationNodeMembersRequest, NodeId=node, MemberUin=[100000000099]))
        self.assert_code(ctx, "FailedOperation.SomeUinsNotInOrganization")

        with self.assertRaises(TencentCloudSDKException) as ctx:
            c.DeleteOrganizationNodes(request(models.DeleteOrganizationNodesRequest, NodeId=[node]))
        self.assert_code(ctx, "FailedOperation.OrganizationNodeNotEmpty")
        with self.assertRaises(TencentCloudSDKException) as ctx:
            c.DeleteOrganizationNodes(request(models.DeleteOrganizationNodesRequest, NodeId=[production.NodeId]))
        self.assert_code(ctx, "FailedOperation.OrganizationNodeNotEmpty")

        with urllib.request.urlopen("http://%s/_emulator/snapshot" % ENDPOINT, timeout=10) as answer:
            snapshot = json.load(answer)
        self.assertIn(node, [d["NodeId"] for d in snapshot["Departments"]])
        self.assertIn((MEMBER, node), [(m["MemberUin"], m["NodeId"]) for m in snapshot["Members"]])

        c.MoveOrganizationNodeMembers(request(
            models.MoveOrganizationNodeMembersRequest, NodeId=root, MemberUin=[MEMBER]))
        c.DeleteOrganizationNodes(request(models.DeleteOrganizationNodesRequest, NodeId=[node]))
        remaining, _ = self.all_nodes(c)
        self.assertNotIn(node, [n.NodeId for n in remaining])


if __name__ == "__main__":
    unittest.main(verbosity=2)
