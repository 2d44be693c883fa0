import psycopg
import pytest


def notes(db):
    return db.execute("select body from notes order by id").fetchall()


def test_migrations_ran(db):
    tables = db.execute(
        "select table_name from information_schema.tables where table_schema = 'public' order by 1"
    ).fetchall()
    assert tables == [("authors",), ("notes",)]


def test_the_app_role_owns_the_database(db):
    owner = db.execute(
        "select pg_get_userbyid(datdba) = current_user from pg_database where datname = current_database()"
    ).fetchone()
    assert owner == (True,)


@pytest.mark.parametrize("n", range(50))
def test_each_test_starts_from_the_seed(db, n):
    # Every earlier test wrote rows; a shared or reused dirty database would show them here.
    assert notes(db) == [("first note",), ("second note",)]
    db.execute("insert into notes (author_id, body) select 1, 'note ' || g from generate_series(1, %s) g", (n + 1,))
    assert db.execute("select count(*) from notes").fetchone() == (n + 3,)


@pytest.mark.parametrize("name", [f"author-{i}" for i in range(25)])
def test_writes_commit_for_real(db, name):
    db.execute("insert into authors (name) values (%s)", (name,))
    with pytest.raises(psycopg.errors.UniqueViolation):
        db.execute("insert into authors (name) values (%s)", (name,))
    assert db.execute("select count(*) from authors").fetchone() == (3,)


@pytest.mark.parametrize("n", range(15))
def test_schema_changes_stay_in_their_test(db, n):
    assert db.execute("select to_regclass('public.scratch')").fetchone() == (None,)
    db.execute(f"create table scratch (v int default {n})")
    db.execute("insert into scratch default values")
    assert db.execute("select v from scratch").fetchone() == (n,)


@pytest.mark.parametrize("n", range(10))
def test_deleting_everything_leaves_the_next_test_alone(db, n):
    db.execute("delete from notes")
    db.execute("delete from authors")
    assert notes(db) == []


def test_foreign_keys_hold(db):
    with pytest.raises(psycopg.errors.ForeignKeyViolation):
        db.execute("insert into notes (author_id, body) values (999, 'orphan')")
