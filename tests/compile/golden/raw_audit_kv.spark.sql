WITH s0 AS (
  SELECT
    `_time`,
    `host`,
    `source`,
    `sourcetype`,
    `_raw`,
    `index`
  FROM `raw_events`
), s1 AS (
  SELECT
    `_time`,
    `host`,
    `source`,
    `sourcetype`,
    `_raw`,
    `index`,
    CASE
      WHEN `sourcetype` = 'linux:audit'
      THEN TRIM('"' FROM NULLIF(
        REGEXP_EXTRACT(`_raw`, '(?du)(?:^|[\\s\'\\x1d])(type)=("[^"]*"|[^\\s\'"\\x1d]*)', 2),
        ''
      ))
      WHEN `sourcetype` = 'sysmon:linux'
      THEN NULLIF(REGEXP_EXTRACT(`_raw`, '(?du)<(?:Data Name=[\'"])?(type)[\'"]?>([^<]*)<', 2), '')
    END AS `type`,
    CASE
      WHEN `sourcetype` = 'linux:audit'
      THEN TRIM('"' FROM NULLIF(
        REGEXP_EXTRACT(`_raw`, '(?du)(?:^|[\\s\'\\x1d])(comm)=("[^"]*"|[^\\s\'"\\x1d]*)', 2),
        ''
      ))
      WHEN `sourcetype` = 'sysmon:linux'
      THEN NULLIF(REGEXP_EXTRACT(`_raw`, '(?du)<(?:Data Name=[\'"])?(comm)[\'"]?>([^<]*)<', 2), '')
    END AS `comm`,
    CASE
      WHEN `sourcetype` = 'linux:audit'
      THEN TRIM('"' FROM NULLIF(
        REGEXP_EXTRACT(`_raw`, '(?du)(?:^|[\\s\'\\x1d])(exe)=("[^"]*"|[^\\s\'"\\x1d]*)', 2),
        ''
      ))
      WHEN `sourcetype` = 'sysmon:linux'
      THEN NULLIF(REGEXP_EXTRACT(`_raw`, '(?du)<(?:Data Name=[\'"])?(exe)[\'"]?>([^<]*)<', 2), '')
    END AS `exe`,
    CASE
      WHEN `sourcetype` = 'linux:audit'
      THEN TRIM('"' FROM NULLIF(
        REGEXP_EXTRACT(`_raw`, '(?du)(?:^|[\\s\'\\x1d])(UID)=("[^"]*"|[^\\s\'"\\x1d]*)', 2),
        ''
      ))
      WHEN `sourcetype` = 'sysmon:linux'
      THEN NULLIF(REGEXP_EXTRACT(`_raw`, '(?du)<(?:Data Name=[\'"])?(UID)[\'"]?>([^<]*)<', 2), '')
    END AS `UID`
  FROM `s0`
), s2 AS (
  SELECT
    `_time`,
    `host`,
    `source`,
    `sourcetype`,
    `_raw`,
    `index`,
    `type`,
    `comm`,
    `exe`,
    `UID`
  FROM `s1`
  WHERE
    TRUE
    AND LOWER(TRANSLATE(`sourcetype`, 'İΣ', 'iσ')) = 'linux:audit'
    AND LOWER(TRANSLATE(`type`, 'İΣ', 'iσ')) = 'syscall'
    AND (
      (
        LOWER(TRANSLATE(`comm`, 'İΣ', 'iσ')) = 'at'
        OR LOWER(TRANSLATE(`comm`, 'İΣ', 'iσ')) = 'atd'
      )
      OR LOWER(TRANSLATE(`exe`, 'İΣ', 'iσ')) LIKE '%/at'
    )
    AND NOT COALESCE(LOWER(TRANSLATE(`UID`, 'İΣ', 'iσ')) = 'daemon', FALSE)
), s3 AS (
  SELECT
    `_time`,
    `host`,
    `source`,
    `sourcetype`,
    `_raw`,
    `index`,
    `type`,
    `comm`,
    `exe`,
    `UID`,
    CASE
      WHEN `sourcetype` = 'linux:audit'
      THEN TRIM('"' FROM NULLIF(
        REGEXP_EXTRACT(`_raw`, '(?du)(?:^|[\\s\'\\x1d])(hostname)=("[^"]*"|[^\\s\'"\\x1d]*)', 2),
        ''
      ))
      WHEN `sourcetype` = 'sysmon:linux'
      THEN NULLIF(
        REGEXP_EXTRACT(`_raw`, '(?du)<(?:Data Name=[\'"])?(hostname)[\'"]?>([^<]*)<', 2),
        ''
      )
    END AS `hostname`
  FROM `s2`
), s4 AS (
  SELECT
    `_time`,
    `host`,
    `source`,
    `sourcetype`,
    `_raw`,
    `index`,
    `type`,
    `comm`,
    `exe`,
    `UID`,
    `hostname` AS `dest`
  FROM `s3`
), s5 AS (
  SELECT
    `_time`,
    `host`,
    `source`,
    `sourcetype`,
    `_raw`,
    `index`,
    `type`,
    `comm`,
    `exe`,
    `UID`,
    `dest`
  FROM `s4`
  WHERE
    NOT `comm` IS NULL
    AND NOT `exe` IS NULL
    AND NOT `UID` IS NULL
    AND NOT `dest` IS NULL
), s6 AS (
  SELECT
    `comm` AS `comm`,
    `exe` AS `exe`,
    `UID` AS `UID`,
    `dest` AS `dest`,
    COUNT(*) AS `count`,
    MIN(
      (UNIX_MILLIS(`_time`) / 1000 + (UNIX_MICROS(`_time`) - UNIX_MILLIS(`_time`) * 1000) / 1000000)
    ) AS `firstTime`
  FROM `s5`
  GROUP BY
    `comm`,
    `exe`,
    `UID`,
    `dest`
)
SELECT
  `comm`,
  `exe`,
  `UID`,
  `dest`,
  `count`,
  `firstTime`
FROM `s6`
ORDER BY
  `comm` ASC NULLS LAST,
  `exe` ASC NULLS LAST,
  `UID` ASC NULLS LAST,
  `dest` ASC NULLS LAST
