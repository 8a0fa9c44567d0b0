"""The order-command pipeline (issue 4 builds it here): message → commands → replies."""
from __future__ import annotations

from app.models import InboundEvent


def handle_command_message(event: InboundEvent) -> str:
    """Until the command pipeline lands, an inbound message is recorded and nothing is sent."""
    return "recorded"
