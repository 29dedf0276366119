"""GitHub webhook deliveries already handled, by `X-GitHub-Delivery`: a manual redelivery keeps
its id, so it changes nothing."""

from __future__ import annotations

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from issuesight.db.engine import session_scope
from issuesight.db.models import WebhookDelivery


class DeliveryStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def delivery_seen(self, delivery_id: str) -> bool:
        """Whether this delivery id was handled before (GitHub's redeliveries keep it)."""
        with Session(self.engine) as session:
            return session.get(WebhookDelivery, delivery_id) is not None

    def record_delivery(self, delivery: WebhookDelivery) -> bool:
        """Records a delivery once its work has started (or needed none); False when the same
        id was recorded meanwhile by a concurrent copy of it, whose work is the same."""
        try:
            with session_scope(self.engine) as session:
                session.add(delivery)
        except IntegrityError:
            return False
        return True
