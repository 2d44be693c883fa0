# A database per test from pgrig serve (or IntegreSQL) over plain HTTP: run under `npx pgrig run --serve`.
import hashlib, os, pathlib
import psycopg, pytest, requests

API = os.environ["INTEGRESQL_CLIENT_BASE_URL"] + "/v1"
SCHEMA = pathlib.Path(__file__).with_name("schema.sql")
HASH = hashlib.sha1(SCHEMA.read_bytes()).hexdigest()  # a new schema gets a new template
http = requests.Session()

def dsn(c):
    return f"postgresql://{c['username']}:{c['password']}@{c['host']}:{c['port']}/{c['database']}"

@pytest.fixture(scope="session")
def template():
    r = http.post(f"{API}/templates", json={"hash": HASH})
    if r.status_code == 200:  # the first to ask migrates the template, then finalizes it
        with psycopg.connect(dsn(r.json()["database"]["config"])) as conn:
            conn.execute(SCHEMA.read_text())
        http.put(f"{API}/templates/{HASH}").raise_for_status()
    elif r.status_code != 423:  # 423: already built (by another worker or an earlier run)
        r.raise_for_status()
    return HASH

@pytest.fixture
def db(template):
    r = http.get(f"{API}/templates/{template}/tests")
    r.raise_for_status()
    test = r.json()
    with psycopg.connect(dsn(test["database"]["config"]), autocommit=True) as conn:
        yield conn
    http.post(f"{API}/templates/{template}/tests/{test['id']}/recreate").raise_for_status()
