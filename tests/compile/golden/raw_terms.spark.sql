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
        REGEXP_EXTRACT(`_raw`, '(?du)(?:^|[\\s\'\\x1d])(EventID)=("[^"]*"|[^\\s\'"\\x1d]*)', 2),
        ''
      ))
      WHEN `sourcetype` = 'sysmon:linux'
      THEN NULLIF(
        REGEXP_EXTRACT(`_raw`, '(?du)<(?:Data Name=[\'"])?(EventID)[\'"]?>([^<]*)<', 2),
        ''
      )
    END AS `EventID`
  FROM `s0`
), s2 AS (
  SELECT
    `_time`,
    `host`,
    `source`,
    `sourcetype`,
    `_raw`,
    `index`,
    `EventID`
  FROM `s1`
  WHERE
    LOWER(TRANSLATE(`sourcetype`, 'İΣ', 'iσ')) = 'sysmon:linux'
    AND LOWER(TRANSLATE(`EventID`, 'İΣ', 'iσ')) = '1'
    AND LOWER(TRANSLATE(`_raw`, 'İΣ', 'iσ')) LIKE '%ngrok%%'
    AND LOWER(TRANSLATE(`_raw`, 'İΣ', 'iσ')) LIKE '%tcp%'
), s3 AS (
  SELECT
    `_time`,
    `host`,
    `source`,
    `sourcetype`,
    `_raw`,
    `index`,
    `EventID`,
    CASE
      WHEN `sourcetype` = 'linux:audit'
      THEN TRIM('"' FROM NULLIF(
        REGEXP_EXTRACT(`_raw`, '(?du)(?:^|[\\s\'\\x1d])(Image)=("[^"]*"|[^\\s\'"\\x1d]*)', 2),
        ''
      ))
      WHEN `sourcetype` = 'sysmon:linux'
      THEN NULLIF(REGEXP_EXTRACT(`_raw`, '(?du)<(?:Data Name=[\'"])?(Image)[\'"]?>([^<]*)<', 2), '')
    END AS `Image`,
    CASE
      WHEN `sourcetype` = 'linux:audit'
      THEN TRIM('"' FROM NULLIF(
        REGEXP_EXTRACT(`_raw`, '(?du)(?:^|[\\s\'\\x1d])(CommandLine)=("[^"]*"|[^\\s\'"\\x1d]*)', 2),
        ''
      ))
      WHEN `sourcetype` = 'sysmon:linux'
      THEN NULLIF(
        REGEXP_EXTRACT(`_raw`, '(?du)<(?:Data Name=[\'"])?(CommandLine)[\'"]?>([^<]*)<', 2),
        ''
      )
    END AS `CommandLine`
  FROM `s2`
), s4 AS (
  SELECT
    `_time`,
    `host`,
    `Image`,
    `CommandLine`
  FROM `s3`
)
SELECT
  `_time`,
  `host`,
  `Image`,
  `CommandLine`
FROM `s4`
ORDER BY
  `_time` DESC
