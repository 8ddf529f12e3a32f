-- Demo, act 1: the two units of account.
--   allowance: CEA (碳排放配额) of one vintage, whole tonnes CO2e
--   ccer:      a block of CCER (国家核证自愿减排量) serial numbers of one project and vintage
SET search_path = carbonmkt, public;
SET client_min_messages = notice;

\echo
\echo '== 1.1 A power plant''s allowance account, in the allowance type'
\echo '   Pre-allocation is 70% of the 2023 verified emissions of 1,234,567 t (RULES.md 3):'
SELECT cea(2024, 1234567) * 0.70        AS pre_allocation_half_up,
       mul_floor(cea(2024, 1234567), 0.70) AS pre_allocation_floor;

\echo '   Holdings by vintage; a surplus of 2023 is banked into later years (RULES.md 6):'
CREATE TEMP TABLE holding (owner text, qty allowance);
INSERT INTO holding VALUES
  ('Huaneng Dalian Unit 3', 'CEA2023:812,500t'),
  ('Huaneng Dalian Unit 3', 'CEA2023:-12500t'),
  ('Huaneng Dalian Unit 3', 'cea 2024 : 864197 t'),
  ('Datang Tuoketuo Unit 1', '2024:1_500_000'),
  ('Datang Tuoketuo Unit 1', 'CEA-2024:-250000 tCO2e');
SELECT owner, vintage(qty) AS vintage, sum(qty) AS balance
  FROM holding GROUP BY owner, vintage(qty) ORDER BY owner, vintage;

\echo '   Vintages never mix silently:'
DO $$
BEGIN
  PERFORM 'CEA2023:100t'::allowance + 'CEA2024:100t'::allowance;
EXCEPTION WHEN others THEN
  RAISE NOTICE 'refused (SQLSTATE %): %', SQLSTATE, SQLERRM;
END $$;

\echo
\echo '== 1.2 CCER serial blocks: no serial can ever exist twice'
CREATE TEMP TABLE ccer_issued (
  block ccer NOT NULL,
  EXCLUDE USING gist (block WITH &&)
);
INSERT INTO ccer_issued VALUES
  ('CCER:GD-OW-0042:2024:1-50000'),        -- offshore wind, Guangdong
  ('ccer fj-af-0007 2023 1..120000'),       -- afforestation, Fujian
  ('CCER:GD-OW-0042:2024:50001-80000');     -- the next batch of the same project
SELECT block, project(block), vintage(block), tonnes(block) FROM ccer_issued ORDER BY block;

\echo '   Issuing serial 49,999-50,100 again is refused by the exclusion constraint:'
DO $$
BEGIN
  INSERT INTO ccer_issued VALUES ('CCER:GD-OW-0042:2024:49999-50100');
EXCEPTION WHEN exclusion_violation THEN
  RAISE NOTICE 'refused (SQLSTATE %): %', SQLSTATE, SQLERRM;
END $$;

\echo '   A buyer takes 30,000 t: the block splits, lowest serials first, and merges back:'
SELECT (s).head AS delivered, (s).tail AS kept
  FROM (SELECT split_block('CCER:GD-OW-0042:2024:1-50000', 30000) AS s) x;
SELECT merge_blocks('CCER:GD-OW-0042:2024:30001-50000', 'CCER:GD-OW-0042:2024:1-30000') AS merged;

\echo '   Bad input is refused with a message that names the numbers:'
DO $$
BEGIN
  PERFORM 'CCER:GD-OW-0042:2024:5000-100'::ccer;
EXCEPTION WHEN others THEN
  RAISE NOTICE 'refused (SQLSTATE %): %', SQLSTATE, SQLERRM;
END $$;
