"""The classifier through the real broker: stories, incidents, restarts, redelivery, stop-switch, health.

Each test runs ``borderwatch classifier`` as a subprocess in its own topic namespace and group.
"""

from __future__ import annotations

import json
import signal
import urllib.request
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from schemas import IncidentV1, RawItemV1, TaggedEventV1, TopicKey, decode_as, encode, topic_name
from services.common.lag import group_lag
from tests.integration.kafka_helpers import produce_raw, read_topic
from tests.integration.processes import ROOT, ServiceProcess, service_env, wait_until

pytestmark = pytest.mark.integration

NOW = datetime(2025, 11, 3, 9, 0, tzinfo=UTC)
CLOSURE_BODY = (
    "Pakistani authorities closed the Torkham border crossing on Monday after exchanges of fire with "
    "Afghan forces overnight, officials said. Long queues of trucks formed on the highway to Peshawar "
    "as traders waited for news about when the gate would open again."
)


def _item(source: str, title: str, body: str, minute: int) -> RawItemV1:
    published = NOW.replace(minute=minute)
    return RawItemV1(
        id=uuid.uuid4().hex[:24],
        source=source,
        title=title,
        body=body,
        published_at=published,
        ingested_at=published,
        origin="push",
    )


class Classifier:
    def __init__(self, kafka: str, redis_url: str, namespace: str, workdir: Path, **extra: str) -> None:
        self.kafka = kafka
        self.namespace = namespace
        self.env = service_env(kafka=kafka, redis=redis_url, namespace=namespace, workdir=workdir, **extra)
        self.log_path = workdir / "classifier.log"
        self.proc = ServiceProcess("classifier", self.env, self.log_path)

    def topic(self, key: TopicKey) -> str:
        return topic_name(key, self.namespace)

    def send(self, *items: RawItemV1) -> None:
        for item in items:
            produce_raw(self.kafka, self.topic(TopicKey.RAW_ITEMS), [encode(item)], key=item.id.encode())

    def tagged(self, count: int) -> list[TaggedEventV1]:
        records = read_topic(self.kafka, self.topic(TopicKey.TAGGED_EVENTS), min_count=count, timeout_s=5)
        return [decode_as(TaggedEventV1, r.value) for r in records]

    def incidents(self) -> list[IncidentV1]:
        records = read_topic(self.kafka, self.topic(TopicKey.INCIDENTS), timeout_s=5)
        return [decode_as(IncidentV1, r.value) for r in records]

    def wait_tagged(self, count: int) -> list[TaggedEventV1]:
        wait_until(
            lambda: len(self.tagged(count)) >= count, 90, "tagged events missing", on_fail=self.proc.log
        )
        return self.tagged(count)

    def get(self, path: str) -> tuple[int, bytes]:
        url = f"http://127.0.0.1:{self.env['BW_CLASSIFIER_WEB_PORT']}{path}"
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()


@pytest.fixture
def classifier(
    request: pytest.FixtureRequest, kafka_bootstrap: str, redis_url: str, namespace: str, tmp_path: Path
):
    # "0": batches are decided in the event loop; "1" tags them in a tagging process (the
    # service's default with two or more CPUs).
    processes = getattr(request, "param", "0")
    c = Classifier(kafka_bootstrap, redis_url, namespace, tmp_path, BW_CLASSIFIER_TAG_PROCESSES=processes)
    c.proc.start()
    try:
        yield c
    finally:
        c.proc.stop()


def _closure_incident(updates: list[IncidentV1]) -> list[IncidentV1]:
    return sorted(
        (u for u in updates if u.label.value == "closure" and u.place == "Torkham"), key=lambda u: u.revision
    )


def _reports(updates: list[IncidentV1]) -> int:
    revisions = _closure_incident(updates)
    return revisions[-1].report_count if revisions else 0


@pytest.mark.parametrize("classifier", ["1", "0"], indirect=True, ids=["tagging-process", "in-loop"])
def test_copies_share_a_story_and_incidents_survive_a_restart(classifier: Classifier) -> None:
    wire = _item("frontier-wire", "Pakistan shuts Torkham crossing after overnight firing", CLOSURE_BODY, 0)
    syndicated = _item(
        "valley-post", "Pakistan shuts Torkham crossing after overnight firing", CLOSURE_BODY, 5
    )
    syndicated_again = _item("hill-times", "Pakistan shuts Torkham crossing after firing", CLOSURE_BODY, 6)
    independent = _item(
        "kabul-daily",
        "Toll rises to 7 killed in Torkham clashes",
        "Seven people were killed and 12 injured in clashes near the Torkham border crossing, which "
        "remained closed on Monday, local officials said.",
        30,
    )
    classifier.send(wire, syndicated, syndicated_again)
    events = {e.item_id: e for e in classifier.wait_tagged(3)}
    story = events[wire.id].story_id
    assert story and events[syndicated.id].story_id == story == events[syndicated_again.id].story_id

    classifier.send(independent)
    events = {e.item_id: e for e in classifier.wait_tagged(4)}
    assert events[independent.id].story_id != story
    wait_until(
        lambda: _reports(classifier.incidents()) >= 4,
        60,
        "incident revisions missing",
        on_fail=classifier.proc.log,
    )
    revisions = _closure_incident(classifier.incidents())
    # One revision per batch that touched the incident: numbers run 1, 2, ... without gaps.
    assert [u.revision for u in revisions] == list(range(1, len(revisions) + 1))
    # Three outlets published one story: they count as one source until an independent report.
    assert [u.source_count for u in revisions if u.report_count <= 3] == [1] * sum(
        u.report_count <= 3 for u in revisions
    )
    assert revisions[-1].source_count == 2 and revisions[-1].report_count == 4
    assert revisions[0].changes == ["opened"] and "corroborated" in revisions[-1].changes
    before_restart = revisions[-1].revision
    casualties = [u for u in classifier.incidents() if u.label.value == "casualties"]
    assert casualties and casualties[-1].killed.latest == 7

    assert classifier.proc.stop() == 0
    classifier.proc.start()
    late_copy = _item(
        "river-news", "Pakistan shuts Torkham crossing after overnight firing", CLOSURE_BODY, 45
    )
    rising = _item(
        "frontier-wire",
        "Torkham clashes: death toll climbs to nine",
        "Nine people were killed in the clashes near the Torkham border crossing, which stayed closed "
        "for a second day, hospital officials said.",
        50,
    )
    classifier.send(late_copy, rising)
    events = {e.item_id: e for e in classifier.wait_tagged(6)}
    # The story index was rebuilt from its table: a later copy joins the old story.
    assert events[late_copy.id].story_id == story
    wait_until(
        lambda: _reports(classifier.incidents()) >= 6,
        60,
        "revisions after restart missing",
        on_fail=classifier.proc.log,
    )
    revisions = _closure_incident(classifier.incidents())
    # The incident table was recovered from its changelog: revisions go on, not from 1.
    assert [u.revision for u in revisions] == list(range(1, len(revisions) + 1))
    assert revisions[-1].revision > before_restart
    assert revisions[-1].report_count == 6
    toll = [u for u in classifier.incidents() if u.label.value == "casualties"][-1]
    assert toll.killed.highest == 9 and "figures_revised_up" in toll.changes
    assert toll.killed.by_source == {"kabul-daily": 7, "frontier-wire": 9}


def test_a_redelivered_item_yields_the_same_event_and_restates_its_incident(classifier: Classifier) -> None:
    item = _item("frontier-wire", "Pakistan shuts Torkham crossing after overnight firing", CLOSURE_BODY, 0)
    classifier.send(item)
    classifier.wait_tagged(1)
    classifier.send(item)
    first, second = classifier.wait_tagged(2)
    assert first.event_id == second.event_id and first.story_id == second.story_id
    wait_until(lambda: len(classifier.incidents()) >= 2, 60, "re-stated incident missing")
    updates = classifier.incidents()
    assert [(u.incident_id, u.revision) for u in updates] == [(updates[0].incident_id, 1)] * 2


def test_each_batch_is_committed_once_delivered_so_a_restart_redelivers_nothing(
    classifier: Classifier,
) -> None:
    items = [
        _item(f"outlet-{i}", f"Torkham report {i}", f"{CLOSURE_BODY} Dispatch number {i}.", i)
        for i in range(24)
    ]
    classifier.send(*items)
    classifier.wait_tagged(len(items))
    raw_topic = classifier.topic(TopicKey.RAW_ITEMS)
    group = classifier.env["BW_CLASSIFIER_GROUP_ID"]
    wait_until(
        lambda: group_lag([classifier.kafka], group, raw_topic) == 0,
        30,
        "offsets not committed after delivery",
        on_fail=classifier.proc.log,
    )

    def lag_series() -> list[str]:
        text = classifier.get("/metrics")[1].decode()
        return [line for line in text.splitlines() if line.startswith("borderwatch_classifier_consumer_lag")]

    wait_until(
        lambda: bool(lag_series()) and all(line.endswith(" 0.0") for line in lag_series()),
        30,
        "consumer-lag gauge not at 0",
        on_fail=lambda: "\n".join(lag_series()),
    )
    assert classifier.proc.stop() == 0
    classifier.proc.start()
    extra = _item("outlet-x", "Torkham report after the restart", CLOSURE_BODY, 40)
    classifier.send(extra)
    wait_until(
        lambda: extra.id in {e.item_id for e in classifier.tagged(len(items) + 1)},
        90,
        "item after the restart not tagged",
        on_fail=classifier.proc.log,
    )
    # Older offsets come first, so a redelivered item would have been tagged by now.
    assert len(classifier.tagged(len(items) + 1)) == len(items) + 1


def test_metrics_health_and_readiness_are_served(classifier: Classifier) -> None:
    # One undecodable and one invalid raw item: each is dead-lettered and counted by reason class.
    bad = [b"\xff not json", json.dumps({"schema_version": 1, "id": "no-title"}).encode()]
    produce_raw(classifier.kafka, classifier.topic(TopicKey.RAW_ITEMS), bad, key=b"bad")
    classifier.send(_item("frontier-wire", "Pakistan shuts Torkham crossing", CLOSURE_BODY, 0))
    classifier.wait_tagged(1)
    read_topic(classifier.kafka, classifier.topic(TopicKey.RAW_ITEMS_DLQ), min_count=2, timeout_s=30)
    assert classifier.get("/healthz")[0] == 200
    wait_until(lambda: classifier.get("/readyz")[0] == 200, 30, "not ready", on_fail=classifier.proc.log)
    assert json.loads(classifier.get("/readyz")[1])["checks"]["state"] is True
    status, body = classifier.get("/metrics")
    text = body.decode()
    assert status == 200
    assert 'borderwatch_classifier_items_total{outcome="ok",reason_class="none"} 1.0' in text
    assert 'borderwatch_classifier_labels_total{label="closure"} 1.0' in text
    dead = "borderwatch_classifier_dead_letters_total"
    assert f'{dead}{{reason_class="decode",topic="raw-items"}} 1.0' in text
    assert f'{dead}{{reason_class="validation",topic="raw-items"}} 1.0' in text
    assert f'{dead}{{reason_class="processing",topic="raw-items"}} 0.0' in text
    assert 'borderwatch_classifier_items_total{outcome="dead_lettered",reason_class="decode"} 1.0' in text
    assert "borderwatch_classifier_broker_errors_total 0.0" in text
    assert "borderwatch_classifier_tagging_seconds_count 1.0" in text
    # Observed once the tagged event was acknowledged (the item's ingest time lies in the past).
    stage = 'stage="ingested_to_tagged"'
    assert f"borderwatch_classifier_pipeline_latency_seconds_count{{{stage}}} 1.0" in text
    assert f'borderwatch_classifier_pipeline_latency_seconds_bucket{{le="60.0",{stage}}} 0.0' in text
    taxonomy = yaml.safe_load((ROOT / "config" / "taxonomy.yaml").read_text())["version"]
    assert f'taxonomy_version="{taxonomy}"' in next(
        line for line in text.splitlines() if line.startswith("borderwatch_classifier_build_info")
    )


def test_the_stop_switch_halts_instead_of_dead_lettering_everything(
    kafka_bootstrap: str, redis_url: str, namespace: str, tmp_path: Path
) -> None:
    c = Classifier(
        kafka_bootstrap,
        redis_url,
        namespace,
        tmp_path,
        BW_CLASSIFIER_DLQ_MAX_CONSECUTIVE="5",
        BW_CLASSIFIER_DLQ_MIN_MESSAGES="1000",
    )
    c.proc.start()
    try:
        good = _item("frontier-wire", "Pakistan shuts Torkham crossing", CLOSURE_BODY, 0)
        c.send(good)
        c.wait_tagged(1)
        produce_raw(c.kafka, c.topic(TopicKey.RAW_ITEMS), [b"not json %d" % i for i in range(20)], key=b"k")
        wait_until(lambda: not c.proc.alive(), 60, "classifier did not halt", on_fail=c.proc.log)
        assert c.proc.proc is not None and c.proc.proc.returncode == 3
        assert "halted by the dead-letter stop-switch: 5 consecutive messages" in c.proc.log()
        letters = read_topic(c.kafka, c.topic(TopicKey.RAW_ITEMS_DLQ), min_count=4, timeout_s=10)
        assert len(letters) == 4  # the fifth was not dead-lettered, and nothing after it
        lag = group_lag([c.kafka], c.env["BW_CLASSIFIER_GROUP_ID"], c.topic(TopicKey.RAW_ITEMS))
        # The halted messages stay uncommitted (None: the group committed nothing yet) for a fixed deploy.
        assert lag is None or lag >= 16
    finally:
        c.proc.stop(signal.SIGKILL)


def test_table_changelogs_are_created_compacted_before_the_worker_joins(kafka_bootstrap: str) -> None:
    """The classifier creates its tables' changelogs itself, compacted, before faust's group joins
    (so the first assignment sees every changelog partition); a second call creates nothing."""
    from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient

    from services.classifier.app import ClassifierSettings, changelog_topics
    from services.common.kafka_admin import ensure_compacted_topics

    settings = ClassifierSettings(
        kafka_bootstrap_servers=kafka_bootstrap, classifier_group_id=f"changelogs-{uuid.uuid4().hex[:8]}"
    )
    names = changelog_topics(settings)
    assert sorted(ensure_compacted_topics(settings, names, 3)) == sorted(names)
    assert ensure_compacted_topics(settings, names, 3) == []
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    try:
        described = {t["name"]: t for t in admin.describe_topics(names)}
        assert {name: len(described[name]["partitions"]) for name in names} == dict.fromkeys(names, 3)
        configs = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, name) for name in names])
        policies = {name: config["cleanup.policy"]["value"] for name, config in configs["topic"].items()}
        assert policies == dict.fromkeys(names, "compact")
    finally:
        admin.close()
