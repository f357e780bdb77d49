-- The sqlite workload: 200,000 rows in an in-memory database, an index,
-- aggregate queries.
CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, grp INTEGER, value REAL);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200000)
INSERT INTO t(name, grp, value) SELECT printf('name-%d-%s', i, hex(randomblob(i % 24))), i % 97, i * 0.5 FROM n;
CREATE INDEX t_name ON t(name);
CREATE INDEX t_grp ON t(grp, value);
SELECT grp, count(*), avg(value), max(length(name)) FROM t GROUP BY grp ORDER BY 2 DESC LIMIT 3;
SELECT count(DISTINCT substr(name, 1, 9)) FROM t;
SELECT sum(value) FROM t WHERE name LIKE 'name-1%';
UPDATE t SET name = name || '-x' WHERE id % 3 = 0;
DELETE FROM t WHERE id % 5 = 0;
SELECT count(*), total(value) FROM t;
