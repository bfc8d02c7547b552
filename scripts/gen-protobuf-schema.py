#!/usr/bin/env python3
"""Writes controller/src/apiserver/protobuf/schema.txt, the table the API server decodes
Kubernetes protobuf request bodies with (see controller/src/apiserver/protobuf.rs).

Field numbers and wire types come from the prost code of the `k8s-pb` crate; the exact JSON
field and message names come from `k8s-openapi`, whose Kubernetes version the server serves.
Both crates are fetched with cargo into a scratch project, so the script needs only python3
and cargo. Rerun it after bumping either pin below, then run `cargo test -p edge-controller
protobuf`.

Kubernetes' Go types send a non-pointer scalar even when it is zero, and its JSON omits it;
a pointer scalar (`*int32 replicas`) is sent only when set, and then its zero means
something. The wire cannot tell the two apart, so POINTER_SCALARS lists the pointer scalars
whose explicit zero the decoder keeps; other zero scalars are dropped unless k8s-openapi
marks the field required (Go encodes those without `omitempty`).
"""

import json
import os
import re
import subprocess
import sys
import tempfile

K8S_PB = "0.9.0"
K8S_OPENAPI = "0.29.0"
K8S_OPENAPI_FEATURE = "v1_37"

# Only the GA API versions and what they use: the server serves nothing else.
PACKAGE_RE = re.compile(
    r"^(api\.[a-z]+\.v[12]|apimachinery\.pkg\.(apis\.meta\.v1|runtime|api\.resource|util\.intstr))$"
)

# Messages whose JSON form is not an object (see protobuf.rs for each).
SPECIAL = {
    "apimachinery.pkg.apis.meta.v1.Time": "time",
    "apimachinery.pkg.apis.meta.v1.MicroTime": "microtime",
    "apimachinery.pkg.apis.meta.v1.Duration": "duration",
    "apimachinery.pkg.apis.meta.v1.FieldsV1": "rawjson",
    "apimachinery.pkg.runtime.RawExtension": "rawjson",
    "apimachinery.pkg.api.resource.Quantity": "quantity",
    "apimachinery.pkg.util.intstr.IntOrString": "intorstring",
    "apimachinery.pkg.apis.meta.v1.Verbs": "items",
    "api.authentication.v1.ExtraValue": "items",
    "api.authorization.v1.ExtraValue": "items",
    "api.certificates.v1.ExtraValue": "items",
}

# Go `*T` scalar fields of the served kinds and the types they embed: an explicit zero is kept.
POINTER_SCALARS = """
apimachinery.pkg.apis.meta.v1.ObjectMeta.deletionGracePeriodSeconds
apimachinery.pkg.apis.meta.v1.OwnerReference.controller
apimachinery.pkg.apis.meta.v1.OwnerReference.blockOwnerDeletion
apimachinery.pkg.apis.meta.v1.ListMeta.remainingItemCount
api.core.v1.PodSpec.terminationGracePeriodSeconds
api.core.v1.PodSpec.activeDeadlineSeconds
api.core.v1.PodSpec.automountServiceAccountToken
api.core.v1.PodSpec.shareProcessNamespace
api.core.v1.PodSpec.priority
api.core.v1.PodSpec.runtimeClassName
api.core.v1.PodSpec.enableServiceLinks
api.core.v1.PodSpec.preemptionPolicy
api.core.v1.PodSpec.setHostnameAsFQDN
api.core.v1.PodSpec.hostUsers
api.core.v1.PodSpec.hostnameOverride
api.core.v1.Container.restartPolicy
api.core.v1.EphemeralContainerCommon.restartPolicy
api.core.v1.SecurityContext.privileged
api.core.v1.SecurityContext.runAsUser
api.core.v1.SecurityContext.runAsGroup
api.core.v1.SecurityContext.runAsNonRoot
api.core.v1.SecurityContext.readOnlyRootFilesystem
api.core.v1.SecurityContext.allowPrivilegeEscalation
api.core.v1.SecurityContext.procMount
api.core.v1.PodSecurityContext.runAsUser
api.core.v1.PodSecurityContext.runAsGroup
api.core.v1.PodSecurityContext.runAsNonRoot
api.core.v1.PodSecurityContext.fsGroup
api.core.v1.PodSecurityContext.fsGroupChangePolicy
api.core.v1.PodSecurityContext.supplementalGroupsPolicy
api.core.v1.PodSecurityContext.seLinuxChangePolicy
api.core.v1.WindowsSecurityContextOptions.gmsaCredentialSpecName
api.core.v1.WindowsSecurityContextOptions.gmsaCredentialSpec
api.core.v1.WindowsSecurityContextOptions.runAsUserName
api.core.v1.WindowsSecurityContextOptions.hostProcess
api.core.v1.SeccompProfile.localhostProfile
api.core.v1.AppArmorProfile.localhostProfile
api.core.v1.Probe.terminationGracePeriodSeconds
api.core.v1.GRPCAction.service
api.core.v1.Lifecycle.stopSignal
api.core.v1.ConfigMapKeySelector.optional
api.core.v1.SecretKeySelector.optional
api.core.v1.FileKeySelector.optional
api.core.v1.ConfigMapEnvSource.optional
api.core.v1.SecretEnvSource.optional
api.core.v1.ConfigMapVolumeSource.defaultMode
api.core.v1.ConfigMapVolumeSource.optional
api.core.v1.SecretVolumeSource.defaultMode
api.core.v1.SecretVolumeSource.optional
api.core.v1.KeyToPath.mode
api.core.v1.DownwardAPIVolumeSource.defaultMode
api.core.v1.DownwardAPIVolumeFile.mode
api.core.v1.ProjectedVolumeSource.defaultMode
api.core.v1.ConfigMapProjection.optional
api.core.v1.SecretProjection.optional
api.core.v1.ServiceAccountTokenProjection.expirationSeconds
api.core.v1.PodCertificateProjection.maxExpirationSeconds
api.core.v1.ClusterTrustBundleProjection.name
api.core.v1.ClusterTrustBundleProjection.signerName
api.core.v1.ClusterTrustBundleProjection.optional
api.core.v1.CSIVolumeSource.readOnly
api.core.v1.CSIVolumeSource.fsType
api.core.v1.HostPathVolumeSource.type
api.core.v1.ISCSIVolumeSource.initiatorName
api.core.v1.AzureDiskVolumeSource.cachingMode
api.core.v1.AzureDiskVolumeSource.fsType
api.core.v1.AzureDiskVolumeSource.readOnly
api.core.v1.AzureDiskVolumeSource.kind
api.core.v1.VolumeMount.mountPropagation
api.core.v1.VolumeMount.recursiveReadOnly
api.core.v1.PodResourceClaim.resourceClaimName
api.core.v1.PodResourceClaim.resourceClaimTemplateName
api.core.v1.Toleration.tolerationSeconds
api.core.v1.TopologySpreadConstraint.minDomains
api.core.v1.TopologySpreadConstraint.nodeAffinityPolicy
api.core.v1.TopologySpreadConstraint.nodeTaintsPolicy
api.core.v1.PodDNSConfigOption.value
api.core.v1.ClientIPConfig.timeoutSeconds
api.core.v1.ServiceSpec.allocateLoadBalancerNodePorts
api.core.v1.ServiceSpec.loadBalancerClass
api.core.v1.ServiceSpec.internalTrafficPolicy
api.core.v1.ServiceSpec.ipFamilyPolicy
api.core.v1.ServiceSpec.trafficDistribution
api.core.v1.ServicePort.appProtocol
api.core.v1.EndpointPort.appProtocol
api.core.v1.EndpointAddress.nodeName
api.core.v1.TypedLocalObjectReference.apiGroup
api.core.v1.TypedObjectReference.apiGroup
api.core.v1.TypedObjectReference.namespace
api.core.v1.ISCSIPersistentVolumeSource.initiatorName
api.core.v1.AzureFilePersistentVolumeSource.secretNamespace
api.core.v1.LocalVolumeSource.fsType
api.core.v1.GlusterfsPersistentVolumeSource.endpointsNamespace
api.core.v1.LoadBalancerIngress.ipMode
api.core.v1.PortStatus.error
api.core.v1.PodResourceClaimStatus.resourceClaimName
api.core.v1.ConfigMap.immutable
api.core.v1.Secret.immutable
api.core.v1.ServiceAccount.automountServiceAccountToken
api.core.v1.PersistentVolumeClaimSpec.storageClassName
api.core.v1.PersistentVolumeClaimSpec.volumeMode
api.core.v1.PersistentVolumeClaimSpec.volumeAttributesClassName
api.core.v1.PersistentVolumeClaimStatus.currentVolumeAttributesClassName
api.core.v1.PersistentVolumeSpec.volumeMode
api.core.v1.PersistentVolumeSpec.volumeAttributesClassName
api.core.v1.ContainerStatus.started
api.core.v1.ContainerStatus.stopSignal
api.core.v1.NodeSwapStatus.capacity
api.core.v1.NodeFeatures.supplementalGroupsPolicy
api.core.v1.NodeRuntimeHandlerFeatures.recursiveReadOnlyMounts
api.core.v1.NodeRuntimeHandlerFeatures.userNamespaces
api.apps.v1.DeploymentSpec.replicas
api.apps.v1.DeploymentSpec.revisionHistoryLimit
api.apps.v1.DeploymentSpec.progressDeadlineSeconds
api.apps.v1.DeploymentStatus.collisionCount
api.apps.v1.DeploymentStatus.terminatingReplicas
api.apps.v1.ReplicaSetSpec.replicas
api.apps.v1.ReplicaSetStatus.terminatingReplicas
api.apps.v1.DaemonSetSpec.revisionHistoryLimit
api.apps.v1.DaemonSetStatus.collisionCount
api.apps.v1.StatefulSetSpec.replicas
api.apps.v1.StatefulSetSpec.revisionHistoryLimit
api.apps.v1.StatefulSetStatus.collisionCount
api.apps.v1.RollingUpdateStatefulSetStrategy.partition
api.batch.v1.JobSpec.parallelism
api.batch.v1.JobSpec.completions
api.batch.v1.JobSpec.activeDeadlineSeconds
api.batch.v1.JobSpec.backoffLimit
api.batch.v1.JobSpec.backoffLimitPerIndex
api.batch.v1.JobSpec.maxFailedIndexes
api.batch.v1.JobSpec.ttlSecondsAfterFinished
api.batch.v1.JobSpec.manualSelector
api.batch.v1.JobSpec.completionMode
api.batch.v1.JobSpec.suspend
api.batch.v1.JobSpec.podReplacementPolicy
api.batch.v1.JobSpec.managedBy
api.batch.v1.JobStatus.failedIndexes
api.batch.v1.JobStatus.ready
api.batch.v1.JobStatus.terminating
api.batch.v1.PodFailurePolicyRule.action
api.batch.v1.PodFailurePolicyOnExitCodesRequirement.containerName
api.batch.v1.SuccessPolicyRule.succeededIndexes
api.batch.v1.SuccessPolicyRule.succeededCount
api.batch.v1.CronJobSpec.timeZone
api.batch.v1.CronJobSpec.startingDeadlineSeconds
api.batch.v1.CronJobSpec.suspend
api.batch.v1.CronJobSpec.successfulJobsHistoryLimit
api.batch.v1.CronJobSpec.failedJobsHistoryLimit
api.coordination.v1.LeaseSpec.holderIdentity
api.coordination.v1.LeaseSpec.leaseDurationSeconds
api.coordination.v1.LeaseSpec.leaseTransitions
api.coordination.v1.LeaseSpec.strategy
api.coordination.v1.LeaseSpec.preferredHolder
api.discovery.v1.Endpoint.hostname
api.discovery.v1.Endpoint.nodeName
api.discovery.v1.Endpoint.zone
api.discovery.v1.EndpointConditions.ready
api.discovery.v1.EndpointConditions.serving
api.discovery.v1.EndpointConditions.terminating
api.discovery.v1.EndpointPort.name
api.discovery.v1.EndpointPort.protocol
api.discovery.v1.EndpointPort.port
api.discovery.v1.EndpointPort.appProtocol
api.autoscaling.v1.HorizontalPodAutoscalerSpec.minReplicas
api.autoscaling.v1.HorizontalPodAutoscalerSpec.targetCPUUtilizationPercentage
api.autoscaling.v1.HorizontalPodAutoscalerStatus.observedGeneration
api.autoscaling.v1.HorizontalPodAutoscalerStatus.currentCPUUtilizationPercentage
""".split()

ATTR_RE = re.compile(r'#\[prost\((?P<body>.*)\)\]')
STRUCT_RE = re.compile(r"^pub struct (\w+) \{")
FIELD_RE = re.compile(r"^pub (?:r#)?(\w+):\s*(.*),$")
TAG_RE = re.compile(r'tag = "(\d+)"')
OPENAPI_KEY_RE = re.compile(r'"([^"]+)" => Field::Key_(\w+)')
OPENAPI_STRUCT_RE = re.compile(r"^pub struct (\w+) \{", re.M)
OPENAPI_FIELD_RE = re.compile(r"^    pub (?:r#)?(\w+): (.*),$", re.M)


def crate_sources():
    """Fetches the two pinned crates with cargo and returns their source directories."""
    with tempfile.TemporaryDirectory(prefix="gen-protobuf-schema-") as scratch:
        return fetch_into(scratch)


def fetch_into(scratch):
    os.makedirs(os.path.join(scratch, "src"))
    with open(os.path.join(scratch, "src", "lib.rs"), "w"):
        pass
    with open(os.path.join(scratch, "Cargo.toml"), "w") as f:
        f.write(
            "[package]\nname = \"scratch\"\nversion = \"0.0.0\"\nedition = \"2021\"\n"
            "[workspace]\n[dependencies]\n"
            f"k8s-pb = \"={K8S_PB}\"\n"
            f"k8s-openapi = {{ version = \"={K8S_OPENAPI}\", features = [\"{K8S_OPENAPI_FEATURE}\"] }}\n"
        )
    meta = json.loads(
        subprocess.check_output(
            ["cargo", "metadata", "--format-version", "1", "--manifest-path",
             os.path.join(scratch, "Cargo.toml")]
        )
    )
    dirs = {p["name"]: os.path.dirname(p["manifest_path"]) for p in meta["packages"]}
    return dirs["k8s-pb"], dirs["k8s-openapi"]


def resolve_rust_type(module, text):
    """`super::super::apimachinery::...::ObjectMeta` seen from `module` -> dotted path."""
    path = list(module)
    parts = text.split("::")
    while parts and parts[0] == "super":
        path.pop()
        parts.pop(0)
    if len(parts) == 1:
        return ".".join(module + parts)
    return ".".join(path + parts)


def scalar_or_message(kind, rust_type, module):
    if kind != "message":
        return kind
    inner = rust_type
    for wrapper in ("::core::option::Option<", "::prost::alloc::vec::Vec<",
                    "::prost::alloc::boxed::Box<"):
        inner = inner.replace(wrapper, "")
    inner = inner.rstrip(">").strip()
    return resolve_rust_type(module, inner)


def parse_k8s_pb(src):
    """Returns {dotted message name: [(number, rust_name, label, type)]} from prost code."""
    messages = {}
    for root, _, files in os.walk(src):
        if "mod.rs" not in files:
            continue
        module = os.path.relpath(root, src).split(os.sep)
        if module == ["."]:
            continue
        lines = open(os.path.join(root, "mod.rs")).read().splitlines()
        current = None
        attr = None
        pending = ""
        for line in lines:
            stripped = line.strip()
            m = STRUCT_RE.match(line)
            if m:
                current = ".".join(module + [m.group(1)])
                messages[current] = []
                continue
            if current is None:
                continue
            if line == "}":
                current = None
                continue
            if stripped.startswith("#[prost("):
                attr = ATTR_RE.search(stripped).group("body")
                pending = ""
                continue
            if attr is None or stripped.startswith("///"):
                continue
            pending += " " + stripped
            if not pending.endswith(",") or pending.count("<") != pending.count(">"):
                continue
            m = FIELD_RE.match(pending.strip().replace(", >", ">").replace(",>", ">"))
            if not m:
                sys.exit(f"cannot parse field of {current}: {pending}")
            rust_name, rust_type = m.group(1), m.group(2).replace(" ", "")
            number = int(TAG_RE.search(attr).group(1))
            kind = attr.split(",")[0].split("=")[0].strip()
            if kind == "btree_map":
                key, value = re.search(r'btree_map = "(\w+), (\w+)"', attr).groups()
                if value == "message":
                    inner = rust_type.split(",", 1)[1][:-1]
                    value = resolve_rust_type(module, inner)
                label, typ = "map", f"{key}:{value}"
            else:
                label = "rep" if "repeated" in attr else "opt"
                typ = scalar_or_message(kind, rust_type, module)
            messages[current].append((number, rust_name, label, typ))
            attr = None
            pending = ""
    return messages


def parse_k8s_openapi(src):
    """Returns {dotted rust path: (exact type name, {lowercase name: (json name, required)})}."""
    base = os.path.join(src, "src", K8S_OPENAPI_FEATURE)
    types = {}
    for root, _, files in os.walk(base):
        module = os.path.relpath(root, base).split(os.sep)
        for name in files:
            if name == "mod.rs" or not name.endswith(".rs"):
                continue
            text = open(os.path.join(root, name)).read()
            m = OPENAPI_STRUCT_RE.search(text)
            if not m:
                continue
            body = text[m.end():text.index("\n}\n", m.end())]
            required = {}
            for rust_name, rust_type in OPENAPI_FIELD_RE.findall(body):
                required[rust_name] = not rust_type.startswith("Option<")
            fields = {}
            for json_name, rust_name in OPENAPI_KEY_RE.findall(text):
                if rust_name in ("api_version", "kind") and rust_name not in required:
                    continue
                fields[json_name.lower()] = (json_name, required.get(rust_name, False))
            types[".".join(module + [m.group(1)]).lower()] = (m.group(1), fields)
    return types


def is_inline(embedded_fields, parent_json_fields):
    """Whether every field of an embedded message is a JSON field of the parent."""
    return bool(embedded_fields) and all(
        rust_name.replace("_", "").lower() in parent_json_fields
        for _, rust_name, _, _ in embedded_fields
    )


def lower_camel(snake):
    head, *rest = snake.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(__file__), "..", "controller", "src", "apiserver", "protobuf", "schema.txt")
    pb_src, openapi_src = crate_sources()
    messages = parse_k8s_pb(os.path.join(pb_src, "src"))
    openapi = parse_k8s_openapi(openapi_src)
    # The exact (Go) name of each message: k8s-openapi's where it has the type.
    names = {}
    for path in messages:
        exact = openapi.get(path.lower())
        package, rust = path.rsplit(".", 1)
        names[path] = f"{package}.{exact[0] if exact else rust}"
    # A message Go embeds inline may have no k8s-openapi type of its own (VolumeSource):
    # its JSON names are those of the parent type.
    for path, fields in messages.items():
        parent = openapi.get(path.lower())
        for _, _, _, typ in fields:
            embedded = openapi.get(typ.lower())
            if parent and typ in messages and embedded is None and is_inline(messages[typ], parent[1]):
                openapi[typ.lower()] = (typ.rsplit(".", 1)[1], parent[1])
    pointers = set(POINTER_SCALARS)
    guessed = []
    seen_pointers = set()
    lines = [
        f"# Generated by scripts/gen-protobuf-schema.py from k8s-pb {K8S_PB} and "
        f"k8s-openapi {K8S_OPENAPI} ({K8S_OPENAPI_FEATURE}); do not edit.",
        "# message NAME [SPECIAL]; then one field a line: NUMBER JSON-NAME opt|rep|map|inline TYPE [keep-zero]",
    ]
    for path in sorted(messages, key=lambda p: names[p]):
        package = path.rsplit(".", 1)[0]
        if not PACKAGE_RE.match(package):
            continue
        name = names[path]
        exact = openapi.get(path.lower())
        special = SPECIAL.get(name)
        lines.append(f"message {name}" + (f" {special}" if special else ""))
        json_names = set()
        for number, rust_name, label, typ in messages[path]:
            key = rust_name.replace("_", "").lower()
            json_name, required = exact[1].get(key, (None, False)) if exact else (None, False)
            if json_name is None:
                json_name = lower_camel(rust_name)
                if any(c.isupper() for c in json_name):
                    # `pod_ip` may have been `podIP`: worth a look when this list changes.
                    guessed.append(f"{name}.{json_name}")
                if exact and is_inline(messages.get(typ, []), exact[1]):
                    # Go embeds the struct with `json:",inline"`: its fields join the parent's.
                    label = "inline"
            if json_name in json_names:
                sys.exit(f"{name}: two fields named {json_name}")
            json_names.add(json_name)
            if label == "map":
                key_type, value = typ.split(":")
                typ = f"{key_type}:{names.get(value, value)}"
            else:
                typ = names.get(typ, typ)
            if typ.startswith("api.") or typ.startswith("apimachinery."):
                if not PACKAGE_RE.match(typ.split(":")[-1].rsplit(".", 1)[0]):
                    sys.exit(f"{name}.{json_name} uses {typ}, outside the packages kept")
            qualified = f"{name}.{json_name}"
            scalar = label != "map" and typ in ("string", "bytes", "bool", "int32", "int64", "double")
            if qualified in pointers and not scalar:
                sys.exit(f"POINTER_SCALARS lists {qualified}, which is not a scalar")
            keep = scalar and (required or qualified in pointers)
            if qualified in pointers:
                seen_pointers.add(qualified)
            lines.append(f"{number} {json_name} {label} {typ}" + (" keep-zero" if keep else ""))
    if guessed:
        print(f"{len(guessed)} camel-case JSON names guessed from snake case (no k8s-openapi type):",
              file=sys.stderr)
        for g in guessed:
            print("  " + g, file=sys.stderr)
    missing = pointers - seen_pointers
    if missing:
        sys.exit("POINTER_SCALARS names fields that do not exist: " + ", ".join(sorted(missing)))
    with open(out, "w") as f:
        f.write("\n".join(lines) + "\n")
    print(f"wrote {out}: {sum(1 for l in lines if l.startswith('message'))} messages")


if __name__ == "__main__":
    main()
