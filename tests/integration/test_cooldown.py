"""The cooldown claim is atomic: identical requests at the same moment yield one winner."""
import threading
from datetime import timedelta

from app.extensions import db as _db
from app.models import CooldownClaim
from app.models.base import utcnow
from app.store import CooldownRequest, claim_cooldowns, peek_cooldowns


def claim_cooldown(workspace_id, order_id, action, seconds, command_log_id, now):
    """One claim, committed (as a command's final commit does)."""
    (answer,) = claim_cooldowns([CooldownRequest(workspace_id, order_id, action, seconds, now,
                                                 command_log_id)])
    _db.session.commit()
    return answer


def test_first_claim_wins_and_reports_time_left(factory, db):
    ws = factory.workspace("acme")
    now = utcnow()
    assert claim_cooldown(ws.id, "2274209", "refill", 3600, 1, now) == (True, 0.0)
    held, left = claim_cooldown(ws.id, "2274209", "refill", 3600, 2, now + timedelta(seconds=60))
    assert not held and 3530 < left <= 3540


def test_the_same_command_finds_its_own_claim_again(factory, db):
    ws = factory.workspace("acme")
    now = utcnow()
    assert claim_cooldown(ws.id, "1111", "speed", 600, 7, now)[0]
    # a retry of command 7 after a crash holds the claim it already took
    assert claim_cooldown(ws.id, "1111", "speed", 600, 7, now + timedelta(seconds=5))[0]


def test_an_expired_claim_can_be_taken_again(factory, db):
    ws = factory.workspace("acme")
    now = utcnow()
    assert claim_cooldown(ws.id, "1111", "cancel", 60, 1, now)[0]
    assert claim_cooldown(ws.id, "1111", "cancel", 60, 2, now + timedelta(seconds=61))[0]
    assert db.session.query(CooldownClaim).one().command_log_id == 2


def test_claims_are_per_workspace_order_and_action(factory, db):
    a, b = factory.workspace("a"), factory.workspace("b")
    now = utcnow()
    assert claim_cooldown(a.id, "1111", "refill", 60, 1, now)[0]
    assert claim_cooldown(b.id, "1111", "refill", 60, 2, now)[0]
    assert claim_cooldown(a.id, "1111", "speed", 60, 3, now)[0]
    assert claim_cooldown(a.id, "2222", "refill", 60, 4, now)[0]


def test_concurrent_identical_claims_have_exactly_one_winner(app, factory):
    ws = factory.workspace("acme")
    workspace_id = ws.id
    now = utcnow()
    barrier = threading.Barrier(8)
    results = []

    def contender(log_id):
        with app.app_context():
            from app.extensions import db

            barrier.wait()
            results.append(claim_cooldown(workspace_id, "2274209", "refill", 3600, log_id,
                                          now)[0])
            db.session.remove()

    threads = [threading.Thread(target=contender, args=(i,)) for i in range(1, 9)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(results) == [False] * 7 + [True]


def test_a_key_asked_twice_in_one_statement_goes_to_the_first_command(factory, db):
    ws = factory.workspace("acme")
    now = utcnow()
    answers = claim_cooldowns([
        CooldownRequest(ws.id, "3333", "refill", 600, now, 10),
        CooldownRequest(ws.id, "3333", "refill", 600, now, 11),
        CooldownRequest(ws.id, "4444", "refill", 600, now, 11),
        CooldownRequest(ws.id, "3333", "refill", 600, now, 10)])
    assert [held for held, _left in answers] == [True, False, True, True]
    assert 599 <= answers[1][1] <= 600
    db.session.commit()
    assert db.session.query(CooldownClaim).filter_by(order_id="3333").one().command_log_id == 10


def test_peeking_reads_without_claiming(factory, db):
    ws = factory.workspace("acme")
    now = utcnow()
    request = CooldownRequest(ws.id, "5555", "speed", 300, now, 1)
    assert peek_cooldowns([request]) == [(True, 0.0)]
    assert db.session.query(CooldownClaim).count() == 0
    claim_cooldown(ws.id, "5555", "speed", 300, 1, now)
    (held, left), = peek_cooldowns([CooldownRequest(ws.id, "5555", "speed", 300,
                                                    now + timedelta(seconds=100), 2)])
    assert not held and 199 <= left <= 200
