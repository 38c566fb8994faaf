"""borderwatch's topic contract: versioned models, the topic registry and the codec."""

from schemas.alerts import AlertEvent, AlertV1
from schemas.codec import InvalidMessage, decode, decode_as, encode
from schemas.common import CrossingState, Label, Region, Severity, severity_rank
from schemas.dead_letters import DeadLetterV1
from schemas.incidents import FigureReconciliation, IncidentV1
from schemas.raw_items import RawItemV1
from schemas.tagged_events import Crossing, Evidence, Figures, Place, TaggedEventV1
from schemas.topics import DEFAULT_NAMESPACE, TOPICS, TopicKey, TopicSpec, topic_name

__all__ = [
    "DEFAULT_NAMESPACE",
    "TOPICS",
    "AlertEvent",
    "AlertV1",
    "Crossing",
    "CrossingState",
    "DeadLetterV1",
    "Evidence",
    "FigureReconciliation",
    "Figures",
    "IncidentV1",
    "InvalidMessage",
    "Label",
    "Place",
    "RawItemV1",
    "Region",
    "Severity",
    "TaggedEventV1",
    "TopicKey",
    "TopicSpec",
    "decode",
    "decode_as",
    "encode",
    "severity_rank",
    "topic_name",
]
