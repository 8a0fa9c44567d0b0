"""`flask init` creates the default plans once; an empty limit is unlimited (NULL)."""
from app.models import Plan
from app.plans import DEFAULT_PLANS, ensure_default_plans


def test_the_enterprise_plan_is_unlimited_and_init_never_overwrites(app, db):
    assert ensure_default_plans() == ["free", "starter", "pro", "enterprise"]
    enterprise = db.session.query(Plan).filter_by(code="enterprise").one()
    assert (enterprise.max_channels, enterprise.max_linked_users,
            enterprise.api_requests_per_day) == (None, None, None)
    assert enterprise.api_requests_per_minute == 300
    free = db.session.query(Plan).filter_by(code="free").one()
    free.max_channels = 3  # the master admin's edit
    db.session.commit()
    assert ensure_default_plans() == []
    db.session.expire_all()
    assert db.session.query(Plan).filter_by(code="free").one().max_channels == 3
    assert db.session.query(Plan).count() == len(DEFAULT_PLANS)


def test_an_unset_limit_is_stored_as_unlimited(app, db):
    plan = Plan(code="custom", name="Custom", max_channels=None)
    db.session.add(plan)
    db.session.commit()
    db.session.expire_all()
    stored = db.session.query(Plan).filter_by(code="custom").one()
    assert stored.max_channels is None and stored.api_requests_per_day is None
