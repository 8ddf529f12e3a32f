-- carbonmkt: MRV room (监测、报告与核查).  Monitoring plans, monthly deposits, annual reports,
-- verification and the national-provincial-city tiered review (三级联审).
--
-- Contract with the allocation and compliance rooms: confirmed emissions (经确认排放量) are
-- read from carbonmkt.confirmed_emission only.  One row per key emitting unit and year, written
-- by the MRV room's confirmation (and removed only by a recorded national re-opening).

CREATE TABLE carbonmkt.confirmed_emission (
    participant_id  bigint NOT NULL REFERENCES carbonmkt.participant,
    year            int NOT NULL CHECK (year BETWEEN 2005 AND 2100),
    emissions_t     bigint NOT NULL CHECK (emissions_t >= 0),   -- tCO2e, whole tonnes
    basis           text NOT NULL CHECK (basis IN ('verified', 'estimated')),
    report_id       bigint,
    confirmed_by    bigint REFERENCES carbonmkt.participant,
    confirmed_at    timestamptz NOT NULL,
    PRIMARY KEY (participant_id, year)
);
COMMENT ON TABLE carbonmkt.confirmed_emission IS
  'Confirmed emissions (经确认排放量) per key emitting unit and year, tCO2e: the basis of allocation and of the compliance obligation.';
