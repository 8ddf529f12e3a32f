
-------------------------------------------------------------------------------
-- finance (碳金融与下一阶段机制): the market's next phase (RULES.md 7).
--   * voluntary retirement for carbon neutrality (自愿注销) with public certificates;
--   * pledge (质押) registered with both parties' consent, discharged or enforced;
--   * repo (回购): a sale now and a repurchase on an agreed date at an agreed price;
--   * the allowance reserve and market adjustment mechanism (配额储备和市场调节机制);
--   * paid allocation (有偿分配), with the pilot-style lock of free allowances.
-- Every movement goes through the registry's posting functions (ARCHITECTURE.md
-- principle 1), called from SECURITY DEFINER functions that authorise their caller and
-- carry SET carbonmkt.acting_room = 'finance' where the registry must let the room act.
-- Every number is a rule row (the rule tables below).  No source gives the numbers of
-- these mechanisms (repo failure handling, the reserve's feed and triggers, the paid share),
-- so no row is shipped: the authority sets them with carbonmkt.set_rule() (doc/rules.md),
-- and what needs a missing one refuses naming it.  Documentation: doc/finance.md.
-------------------------------------------------------------------------------

-- Small helpers ---------------------------------------------------------------------------

-- The finance API's plausibility limits (doc/security.md, doc/finance.md): rule rows of
-- carbonmkt.plausibility_limit like the registry's, entry-error bounds rather than policy.
INSERT INTO carbonmkt.plausibility_limit (subject, scope, max_value, source) VALUES
  ('price_cny', '*', 100000000, 'operational: a price of 10^8 CNY per t is over a million times any CEA close so far (RULES.md 5: 48 CNY/t at launch, about 75 CNY/t in mid-2025 [S3]); refuses entry errors and keeps every amount in fen far from the int8 limit'),
  ('amount_fen', 'secured_fen', 100000000000000, 'operational: 10^14 fen (10^12 CNY) secured by one pledge is above the value of the whole national market''s allowances (about 8x10^9 t [S3] L86 at under 100 CNY per t)'),
  ('term_days', 'pledge', 3660, 'operational: a pledge term of at most ten years; allowance pledge loans run for months to a few years'),
  ('text_length', 'beneficiary', 200, 'operational: as name (a legal or natural person, an event or a product)'),
  ('text_length', 'purpose', 500, 'operational: a sentence saying what the retirement offsets');


CREATE FUNCTION carbonmkt._finance_text(p_value text, p_argument text)
RETURNS text LANGUAGE plpgsql STABLE AS
$$
DECLARE
    lim numeric := carbonmkt.plausibility_max('text_length', p_argument);
BEGIN
    IF p_value IS NULL OR btrim(p_value) = '' THEN
        RAISE EXCEPTION '% is required', p_argument USING ERRCODE = 'CM701';
    END IF;
    IF length(p_value) > lim THEN
        RAISE EXCEPTION '% is % characters long, more than the % allowed (plausibility_limit text_length, %)',
            p_argument, length(p_value), lim, p_argument
            USING ERRCODE = 'CM701';
    END IF;
    RETURN btrim(p_value);
END
$$;
COMMENT ON FUNCTION carbonmkt._finance_text(text, text) IS
  'Internal: a required free-text argument, trimmed; CM701 when missing or longer than its plausibility limit (subject text_length, scope the argument).';

CREATE FUNCTION carbonmkt._finance_quantity(p_value bigint, p_argument text)
RETURNS bigint LANGUAGE plpgsql IMMUTABLE AS
$$
BEGIN
    IF p_value IS NULL OR p_value <= 0 THEN
        RAISE EXCEPTION '% must be a positive number of tonnes, got %', p_argument, coalesce(p_value::text, 'NULL')
            USING ERRCODE = 'CM701';
    END IF;
    RETURN p_value;
END
$$;
COMMENT ON FUNCTION carbonmkt._finance_quantity(bigint, text) IS
  'Internal: a required positive quantity in tonnes; CM701 otherwise.';

CREATE FUNCTION carbonmkt._finance_price(p_value numeric, p_argument text, p_unit text DEFAULT 'CNY per t',
                                          p_subject text DEFAULT 'price_cny')
RETURNS bigint LANGUAGE plpgsql STABLE AS
$$
DECLARE
    lim numeric := carbonmkt.plausibility_max(p_subject, p_argument);
BEGIN
    IF p_value IS NULL OR p_value <= 0 OR p_value * 100 <> trunc(p_value * 100) OR p_value > lim THEN
        RAISE EXCEPTION '% must be a positive amount in % with at most two decimals, at most % (plausibility_limit %), got %',
            p_argument, p_unit, to_char(lim, 'FM999,999,999,999,990'), p_subject, coalesce(p_value::text, 'NULL')
            USING ERRCODE = 'CM701';
    END IF;
    RETURN (p_value * 100)::bigint;
END
$$;
COMMENT ON FUNCTION carbonmkt._finance_price(numeric, text, text, text) IS
  'Internal: a price in CNY per t (step 0.01 CNY) converted to fen; CM701 naming the argument and its plausibility limit (subject price_cny, scope the argument) otherwise.';

CREATE FUNCTION carbonmkt._finance_fen(p_value bigint, p_argument text)
RETURNS bigint LANGUAGE plpgsql STABLE AS
$$
DECLARE
    lim numeric := carbonmkt.plausibility_max('amount_fen', p_argument);
BEGIN
    IF p_value IS NULL OR p_value <= 0 OR p_value > lim THEN
        RAISE EXCEPTION '% must be a positive amount of fen (0.01 CNY), at most % (plausibility_limit amount_fen), got %',
            p_argument, to_char(lim, 'FM999,999,999,999,999,990'), coalesce(p_value::text, 'NULL')
            USING ERRCODE = 'CM701';
    END IF;
    RETURN p_value;
END
$$;
COMMENT ON FUNCTION carbonmkt._finance_fen(bigint, text) IS
  'Internal: a required amount of money in fen; CM701 naming the argument and its plausibility limit (subject amount_fen, scope the argument) when not positive or above it.';

-- The participant a finance call is for: a participant's login acts for itself; registry
-- staff (and superusers) may act for any participant.
CREATE FUNCTION carbonmkt._finance_actor(p_participant bigint, p_action text) RETURNS bigint
LANGUAGE plpgsql STABLE AS
$$
DECLARE
    me bigint := carbonmkt.caller_participant();
BEGIN
    IF p_participant IS NULL OR p_participant = me THEN
        IF me IS NULL THEN
            RAISE EXCEPTION 'login "%" acts for no participant and may not %', session_user, p_action
                USING ERRCODE = '42501', HINT = 'A participant''s login is mapped with carbonmkt.map_login().';
        END IF;
        RETURN me;
    END IF;
    IF NOT carbonmkt._is_member('carbonmkt_registry') THEN
        RAISE EXCEPTION 'login "%" may not % for participant %', session_user, p_action, p_participant
            USING ERRCODE = '42501', HINT = 'Only registry staff (carbonmkt_registry) act for other participants.';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM carbonmkt.participant p WHERE p.participant_id = p_participant) THEN
        RAISE EXCEPTION 'participant % does not exist', p_participant USING ERRCODE = 'CM002';
    END IF;
    RETURN p_participant;
END
$$;
COMMENT ON FUNCTION carbonmkt._finance_actor(bigint, text) IS
  'Internal: the participant a finance call acts for (the login''s own, or any for registry staff); 42501 otherwise.';

-- A participant's first open account of a kind; CM702 when it has none.
CREATE FUNCTION carbonmkt._finance_account(p_participant bigint, p_kind carbonmkt.account_kind) RETURNS bigint
LANGUAGE plpgsql STABLE AS
$$
DECLARE
    id bigint;
BEGIN
    SELECT min(a.account_id) INTO id FROM carbonmkt.account a
     WHERE a.participant_id = p_participant AND a.kind = p_kind AND a.status = 'open';
    IF id IS NULL THEN
        RAISE EXCEPTION 'participant % has no open % account', p_participant, p_kind
            USING ERRCODE = 'CM702', HINT = 'The registry opens accounts: carbonmkt.open_account().';
    END IF;
    RETURN id;
END
$$;
COMMENT ON FUNCTION carbonmkt._finance_account(bigint, carbonmkt.account_kind) IS
  'Internal: the participant''s first open account of the kind (holding, cash); CM702 when none.';

CREATE FUNCTION carbonmkt._require_national_authority(p_action text) RETURNS bigint
LANGUAGE plpgsql STABLE AS
$$
DECLARE
    me bigint := carbonmkt.caller_participant();
BEGIN
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.rolname = session_user AND r.rolsuper) THEN
        RETURN coalesce(me, (SELECT min(p.participant_id) FROM carbonmkt.participant p WHERE p.kind = 'national_authority'));
    END IF;
    IF carbonmkt._is_member('carbonmkt_authority')
       AND (SELECT p.kind FROM carbonmkt.participant p WHERE p.participant_id = me) = 'national_authority' THEN
        RETURN me;
    END IF;
    RAISE EXCEPTION 'only the national authority may %', p_action
        USING ERRCODE = '42501',
              HINT = 'This needs membership in carbonmkt_authority and a login mapped to the national authority (国务院生态环境主管部门).';
END
$$;
COMMENT ON FUNCTION carbonmkt._require_national_authority(text) IS
  'Internal: the national authority''s participant id when the login acts for it (or is a superuser); 42501 otherwise.';

-- Voluntary retirement (自愿注销) -----------------------------------------------------------

CREATE TABLE carbonmkt.voluntary_retirement (
    retirement_id   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    certificate     text NOT NULL UNIQUE,         -- VR<year>-<id, 8 digits>-<first 8 hex of the entry hash>
    posting_id      bigint NOT NULL,              -- the registry posting (retire_cea / retire_ccer)
    entry_id        bigint NOT NULL,              -- the journal entry that took the units out of the account
    account_id      bigint NOT NULL REFERENCES carbonmkt.account,
    participant_id  bigint NOT NULL REFERENCES carbonmkt.participant,
    instrument      carbonmkt.instrument NOT NULL CHECK (instrument IN ('CEA', 'CCER')),
    vintage         int NOT NULL,
    project         text NOT NULL,
    tonnes          bigint NOT NULL CHECK (tonnes > 0),
    beneficiary     text NOT NULL,                -- on whose behalf (受益方)
    purpose_kind    text NOT NULL CHECK (purpose_kind IN ('event', 'product', 'organisation', 'individual', 'other')),
    purpose         text NOT NULL,                -- the event, product, ... made carbon neutral
    emissions_year  int,                          -- the year of emissions offset
    business_date   date NOT NULL,
    recorded_at     timestamptz NOT NULL,
    initiator       name NOT NULL,
    reference       text
);
CREATE UNIQUE INDEX voluntary_retirement_reference ON carbonmkt.voluntary_retirement (initiator, reference)
  WHERE reference IS NOT NULL;
CREATE INDEX voluntary_retirement_participant ON carbonmkt.voluntary_retirement (participant_id);
COMMENT ON TABLE carbonmkt.voluntary_retirement IS
  'Voluntary retirements (自愿注销) for carbon neutrality: CEA or CCER taken out of circulation into the cancellation account on behalf of a beneficiary, for a purpose, with a certificate number that carbonmkt.verify_certificate() checks publicly.  Append-only; made with carbonmkt.retire_voluntarily().';

CREATE FUNCTION carbonmkt.retire_voluntarily(account_id bigint, instrument carbonmkt.instrument, vintage int,
                                             project text, tonnes bigint, beneficiary text, purpose_kind text,
                                             purpose text, emissions_year int DEFAULT NULL,
                                             reference text DEFAULT NULL)
RETURNS text LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp AS
$$
#variable_conflict use_variable
DECLARE
    v_account   carbonmkt.account;
    v_posting   bigint;
    v_entry     carbonmkt.journal;
    v_id        bigint;
    v_cert      text;
    v_benef     text := carbonmkt._finance_text(beneficiary, 'beneficiary');
    v_purpose   text := carbonmkt._finance_text(purpose, 'purpose');
    v_project   text := upper(coalesce(project, ''));
BEGIN
    IF purpose_kind IS NULL OR purpose_kind NOT IN ('event', 'product', 'organisation', 'individual', 'other') THEN
        RAISE EXCEPTION 'purpose_kind must be event, product, organisation, individual or other, got %',
            coalesce(quote_literal(purpose_kind), 'NULL') USING ERRCODE = 'CM701';
    END IF;
    PERFORM carbonmkt._finance_quantity(tonnes, 'tonnes');
    IF instrument IS NULL OR instrument = 'CNY' THEN
        RAISE EXCEPTION 'only CEA or CCER can be retired, not %', coalesce(instrument::text, 'NULL') USING ERRCODE = 'CM701';
    END IF;
    IF emissions_year IS NOT NULL AND emissions_year NOT BETWEEN 2005 AND 2100 THEN
        RAISE EXCEPTION 'emissions_year % is outside 2005-2100', emissions_year USING ERRCODE = 'CM701';
    END IF;
    -- a retry with the same reference returns the certificate it made
    IF reference IS NOT NULL THEN
        SELECT r.certificate INTO v_cert FROM carbonmkt.voluntary_retirement r
         WHERE r.initiator = session_user AND r.reference = retire_voluntarily.reference;
        IF FOUND THEN
            RETURN v_cert;
        END IF;
    END IF;
    SELECT * INTO v_account FROM carbonmkt.account a WHERE a.account_id = retire_voluntarily.account_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'account % does not exist', coalesce(account_id::text, 'NULL') USING ERRCODE = 'CM001';
    END IF;
    -- the registry authorises the caller on the account (its own participant, or the registry)
    IF instrument = 'CEA' THEN
        v_posting := carbonmkt.retire_cea(account_id, vintage, tonnes, reference,
                                          format('voluntary retirement for %s: %s', v_benef, v_purpose));
    ELSE
        v_posting := carbonmkt.retire_ccer(account_id, v_project, vintage, tonnes, reference,
                                           format('voluntary retirement for %s: %s', v_benef, v_purpose));
    END IF;
    SELECT * INTO v_entry FROM carbonmkt.journal j
     WHERE j.posting_id = v_posting AND j.account_id = retire_voluntarily.account_id AND j.kind = 'cancel'
     ORDER BY j.entry_id LIMIT 1;
    INSERT INTO carbonmkt.voluntary_retirement AS r
           (certificate, posting_id, entry_id, account_id, participant_id, instrument, vintage, project, tonnes,
            beneficiary, purpose_kind, purpose, emissions_year, business_date, recorded_at, initiator, reference)
    VALUES ('pending', v_posting, v_entry.entry_id, account_id, v_account.participant_id, instrument,
            v_entry.vintage, v_entry.project, tonnes, v_benef, purpose_kind, v_purpose, emissions_year,
            v_entry.business_date, v_entry.recorded_at, session_user, reference)
    RETURNING r.retirement_id INTO v_id;
    v_cert := format('VR%s-%s-%s', to_char(v_entry.business_date, 'YYYY'), lpad(v_id::text, 8, '0'),
                     upper(substr(encode(v_entry.hash, 'hex'), 1, 8)));
    UPDATE carbonmkt.voluntary_retirement r SET certificate = v_cert WHERE r.retirement_id = v_id;
    RETURN v_cert;
END
$$;
COMMENT ON FUNCTION carbonmkt.retire_voluntarily(bigint, carbonmkt.instrument, int, text, bigint, text, text, text, int, text) IS
  'Voluntary retirement (自愿注销) for carbon neutrality: retires tonnes of CEA (vintage) or CCER (project, vintage; lowest serials first) from the account into the cancellation account on behalf of a beneficiary, for a purpose (purpose_kind: event, product, organisation, individual, other) and optionally the year of emissions it offsets.  One registry posting; returns the certificate number (VR<year>-<8 digits>-<8 hex of the journal entry''s hash>).  Idempotent per client reference.  The account''s own participant (or the registry).  Retiring units is not withdrawing an order (carbonmkt.cancel_order).';

CREATE FUNCTION carbonmkt.verify_certificate(certificate text)
RETURNS TABLE (certificate text, valid boolean, instrument carbonmkt.instrument, vintage int, project text,
               tonnes bigint, beneficiary text, purpose_kind text, purpose text, emissions_year int,
               retired_by text, business_date date, recorded_at timestamptz, entry_id bigint, entry_hash text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp AS
$$
SELECT r.certificate,
       -- the certificate's hash part matches the journal entry, and the entry still says what the certificate says
       upper(substr(encode(j.hash, 'hex'), 1, 8)) = split_part(r.certificate, '-', 3)
         AND j.kind = 'cancel' AND -j.amount = r.tonnes AND j.account_id = r.account_id,
       r.instrument, r.vintage, nullif(r.project, ''), r.tonnes, r.beneficiary, r.purpose_kind, r.purpose,
       r.emissions_year, p.name, r.business_date, r.recorded_at, r.entry_id, encode(j.hash, 'hex')
  FROM carbonmkt.voluntary_retirement r
  JOIN carbonmkt.participant p ON p.participant_id = r.participant_id
  LEFT JOIN carbonmkt.journal j ON j.entry_id = r.entry_id
 WHERE r.certificate = upper(btrim(verify_certificate.certificate))
$$;
COMMENT ON FUNCTION carbonmkt.verify_certificate(text) IS
  'Public check of a voluntary retirement certificate: what was retired (instrument, vintage, project, tonnes), for whom and why, by whom, when, and the journal entry with its SHA-256 hash; valid is true when the certificate''s hash part and the entry agree.  No row: no such certificate.  Callable by anyone (PUBLIC).';

CREATE VIEW carbonmkt.voluntary_retirements WITH (security_invoker = true) AS
SELECT r.certificate, r.business_date, r.participant_id, p.name AS participant_name, r.account_id,
       r.instrument, r.vintage, nullif(r.project, '') AS project, r.tonnes, r.beneficiary, r.purpose_kind,
       r.purpose, r.emissions_year, r.posting_id, r.entry_id
  FROM carbonmkt.voluntary_retirement r
  JOIN carbonmkt.participant p ON p.participant_id = r.participant_id;
COMMENT ON VIEW carbonmkt.voluntary_retirements IS
  'Voluntary retirements (自愿注销) with their certificates: a participant sees its own, staff and BI all (row-level security of voluntary_retirement).';

-- Pledge (质押) -------------------------------------------------------------------------------

CREATE TABLE carbonmkt.pledge (
    pledge_id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    pledgor_id       bigint NOT NULL REFERENCES carbonmkt.participant,   -- 出质人: the unit whose units are pledged
    pledgor_account  bigint NOT NULL REFERENCES carbonmkt.account,
    pledgee_id       bigint NOT NULL REFERENCES carbonmkt.participant,   -- 质权人: a financial institution
    vintage          int NOT NULL,
    tonnes           bigint NOT NULL CHECK (tonnes > 0),
    secured_fen      bigint NOT NULL CHECK (secured_fen > 0),            -- the claim the pledge secures
    term_end         date NOT NULL,                                      -- the secured loan's maturity
    status           text NOT NULL DEFAULT 'proposed'
                     CHECK (status IN ('proposed', 'accepted', 'registered', 'discharged', 'enforced', 'withdrawn')),
    hold_id          bigint REFERENCES carbonmkt.hold,                   -- the registry's pledge hold, once registered
    registration_no  text UNIQUE,                                        -- 质押登记编号
    enforcement      text CHECK (enforcement IN ('transfer', 'sale')),
    sale_price_fen   bigint,
    buyer_id         bigint REFERENCES carbonmkt.participant,
    proposed_at      timestamptz NOT NULL,
    accepted_at      timestamptz,
    registered_at    timestamptz,
    ended_at         timestamptz,
    registered_by    name,
    ended_by         name,
    CHECK (pledgor_id <> pledgee_id),
    CHECK ((status IN ('registered', 'discharged', 'enforced')) = (hold_id IS NOT NULL)),
    CHECK ((status = 'enforced') = (enforcement IS NOT NULL))
);
CREATE INDEX pledge_pledgor ON carbonmkt.pledge (pledgor_id);
CREATE INDEX pledge_pledgee ON carbonmkt.pledge (pledgee_id);
COMMENT ON TABLE carbonmkt.pledge IS
  'Pledges of allowances (碳排放配额质押): proposed by the pledgor, accepted by the pledgee (a financial institution), registered by the registry (质押登记: the units frozen by a registry pledge hold), then discharged (解除质押: hold released) or enforced on default (质权实现: the units transferred to the pledgee, or sold to a buyer with the proceeds to the pledgee up to the secured claim and the rest to the pledgor).  A pledgor and a pledgee see their own pledges, nobody else''s.';

CREATE TABLE carbonmkt.pledge_offer (
    offer_id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    pledge_id       bigint NOT NULL REFERENCES carbonmkt.pledge,
    buyer_id        bigint NOT NULL REFERENCES carbonmkt.participant,
    price_fen       bigint NOT NULL CHECK (price_fen > 0),
    hold_id         bigint NOT NULL REFERENCES carbonmkt.hold,         -- the buyer's cash, frozen
    status          text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'taken', 'withdrawn', 'lapsed')),
    offered_at      timestamptz NOT NULL,
    ended_at        timestamptz,
    reference       text                                                -- the buyer's client reference (idempotency)
);
CREATE INDEX pledge_offer_pledge ON carbonmkt.pledge_offer (pledge_id);
CREATE UNIQUE INDEX pledge_offer_reference ON carbonmkt.pledge_offer (buyer_id, reference) WHERE reference IS NOT NULL;
COMMENT ON TABLE carbonmkt.pledge_offer IS
  'Firm offers to buy the units of a registered pledge if it is enforced by sale (质押物处置): the buyer''s cash for price x tonnes is frozen by a registry hold until the offer is taken, withdrawn, or lapses when the pledge ends otherwise.';

CREATE FUNCTION carbonmkt._pledge(p_pledge bigint, p_lock boolean) RETURNS carbonmkt.pledge
LANGUAGE plpgsql AS
$$
DECLARE
    g carbonmkt.pledge;
BEGIN
    IF p_lock THEN
        SELECT * INTO g FROM carbonmkt.pledge x WHERE x.pledge_id = p_pledge FOR UPDATE;
    ELSE
        SELECT * INTO g FROM carbonmkt.pledge x WHERE x.pledge_id = p_pledge;
    END IF;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'pledge % does not exist', coalesce(p_pledge::text, 'NULL') USING ERRCODE = 'CM703';
    END IF;
    RETURN g;
END
$$;
COMMENT ON FUNCTION carbonmkt._pledge(bigint, boolean) IS 'Internal: a pledge (locked when asked); CM703 when unknown.';

CREATE FUNCTION carbonmkt._pledge_state(g carbonmkt.pledge, p_expected text, p_verb text) RETURNS void
LANGUAGE plpgsql IMMUTABLE AS
$$
BEGIN
    IF g.status <> p_expected THEN
        RAISE EXCEPTION 'pledge % is %, so it cannot be %', g.pledge_id, g.status, p_verb
            USING ERRCODE = 'CM703', DETAIL = format('Only a %s pledge can be %s.', p_expected, p_verb);
    END IF;
END
$$;
COMMENT ON FUNCTION carbonmkt._pledge_state(carbonmkt.pledge, text, text) IS 'Internal: CM703 unless the pledge is in the expected state.';

CREATE FUNCTION carbonmkt.propose_pledge(pledgee_id bigint, vintage int, tonnes bigint, secured_fen bigint,
                                         term_end date, acting_for bigint DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp AS
$$
#variable_conflict use_variable
DECLARE
    me      bigint := carbonmkt._finance_actor(acting_for, 'propose a pledge');
    k       carbonmkt.participant_kind;
    acct    bigint;
    fen     bigint := carbonmkt._finance_fen(secured_fen, 'secured_fen');
    id      bigint;
BEGIN
    PERFORM carbonmkt._finance_quantity(tonnes, 'tonnes');
    SELECT p.kind INTO k FROM carbonmkt.participant p WHERE p.participant_id = pledgee_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'pledgee % does not exist', coalesce(pledgee_id::text, 'NULL') USING ERRCODE = 'CM002';
    END IF;
    IF k <> 'institution' THEN
        RAISE EXCEPTION 'pledgee % is a %, not a financial institution', pledgee_id, k
            USING ERRCODE = 'CM703', HINT = 'Allowances are pledged to financial institutions (participant kind institution).';
    END IF;
    IF pledgee_id = me THEN
        RAISE EXCEPTION 'participant % cannot pledge to itself', me USING ERRCODE = 'CM703';
    END IF;
    IF term_end IS NULL OR NOT isfinite(term_end) OR term_end <= carbonmkt.business_date()
       OR term_end > carbonmkt.business_date() + carbonmkt.plausibility_max('term_days', 'pledge')::int THEN
        RAISE EXCEPTION 'term_end % must be after today, %, and at most % days ahead (plausibility_limit term_days, pledge)',
            coalesce(term_end::text, 'NULL'), carbonmkt.business_date(), carbonmkt.plausibility_max('term_days', 'pledge')
            USING ERRCODE = 'CM701';
    END IF;
    IF vintage IS NULL OR vintage NOT BETWEEN 2005 AND 2100 THEN
        RAISE EXCEPTION 'vintage must be a year within 2005-2100, got %', coalesce(vintage::text, 'NULL') USING ERRCODE = 'CM701';
    END IF;
    acct := carbonmkt._finance_account(me, 'holding');
    IF carbonmkt._available(acct, 'CEA', vintage, '') < tonnes THEN
        RAISE EXCEPTION 'account % has % of CEA % available, the pledge asks for %', acct,
            carbonmkt._t(carbonmkt._available(acct, 'CEA', vintage, '')), vintage, carbonmkt._t(tonnes)
            USING ERRCODE = 'CM004';
    END IF;
    INSERT INTO carbonmkt.pledge AS g (pledgor_id, pledgor_account, pledgee_id, vintage, tonnes, secured_fen, term_end,
                                       proposed_at)
    VALUES (me, acct, pledgee_id, vintage, tonnes, fen, term_end, carbonmkt.clock_now())
    RETURNING g.pledge_id INTO id;
    RETURN id;
END
$$;
COMMENT ON FUNCTION carbonmkt.propose_pledge(bigint, int, bigint, bigint, date, bigint) IS
  'The pledgor (a participant''s login, or the registry for it) proposes to pledge tonnes of CEA of a vintage from its holding account to a financial institution (pledgee) securing secured_fen (fen, 0.01 CNY) until term_end.  Nothing is frozen yet: the pledgee accepts, then the registry registers.  Returns the pledge id.';

CREATE FUNCTION carbonmkt.accept_pledge(pledge_id bigint, acting_for bigint DEFAULT NULL)
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp AS
$$
#variable_conflict use_variable
DECLARE
    g   carbonmkt.pledge := carbonmkt._pledge(pledge_id, true);
    me  bigint := carbonmkt._finance_actor(acting_for, 'accept a pledge');
BEGIN
    IF me <> g.pledgee_id THEN
        RAISE EXCEPTION 'only the pledgee may accept pledge %', pledge_id USING ERRCODE = '42501';
    END IF;
    PERFORM carbonmkt._pledge_state(g, 'proposed', 'accepted');
    UPDATE carbonmkt.pledge x SET status = 'accepted', accepted_at = carbonmkt.clock_now() WHERE x.pledge_id = g.pledge_id;
END
$$;
COMMENT ON FUNCTION carbonmkt.accept_pledge(bigint, bigint) IS
  'The pledgee consents to a proposed pledge; the registry can then register it.';

CREATE FUNCTION carbonmkt.register_pledge(pledge_id bigint, reference text DEFAULT NULL)
RETURNS text LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp
SET carbonmkt.acting_room = 'finance' AS
$$
#variable_conflict use_variable
DECLARE
    g   carbonmkt.pledge;
    h   bigint;
    no  text;
BEGIN
    PERFORM carbonmkt._require_registry('register a pledge');
    g := carbonmkt._pledge(pledge_id, true);
    PERFORM carbonmkt._pledge_state(g, 'accepted', 'registered');
    h := carbonmkt.hold(g.pledgor_account, 'CEA', g.tonnes, 'pledge', g.vintage, '', reference,
                        format('pledge %s to participant %s', g.pledge_id, g.pledgee_id));
    no := format('PL%s-%s', to_char(carbonmkt.business_date(), 'YYYY'), lpad(g.pledge_id::text, 8, '0'));
    UPDATE carbonmkt.pledge x SET status = 'registered', hold_id = h, registration_no = no,
                                  registered_at = carbonmkt.clock_now(), registered_by = session_user
     WHERE x.pledge_id = g.pledge_id;
    RETURN no;
END
$$;
COMMENT ON FUNCTION carbonmkt.register_pledge(bigint, text) IS
  'Pledge registration (质押登记) by the registry once both parties consented: freezes the pledged tonnes on the pledgor''s holding account with a pledge hold (one registry posting; CM004 when they are no longer available) and returns the registration number.  Pledged units can be neither traded nor surrendered.';

CREATE FUNCTION carbonmkt._pledge_end_offers(p_pledge bigint, p_taken bigint) RETURNS void
LANGUAGE plpgsql AS
$$
DECLARE
    o record;
BEGIN
    FOR o IN SELECT * FROM carbonmkt.pledge_offer x
              WHERE x.pledge_id = p_pledge AND x.status = 'open' AND x.offer_id IS DISTINCT FROM p_taken
              ORDER BY x.offer_id LOOP
        PERFORM carbonmkt.release_hold(o.hold_id, NULL, format('offer %s for pledge %s lapsed', o.offer_id, p_pledge));
        UPDATE carbonmkt.pledge_offer x SET status = 'lapsed', ended_at = carbonmkt.clock_now() WHERE x.offer_id = o.offer_id;
    END LOOP;
END
$$;
COMMENT ON FUNCTION carbonmkt._pledge_end_offers(bigint, bigint) IS
  'Internal: releases the cash of every open offer for a pledge but the one taken (they lapse).';

CREATE FUNCTION carbonmkt.discharge_pledge(pledge_id bigint, reference text DEFAULT NULL, acting_for bigint DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp
SET carbonmkt.acting_room = 'finance' AS
$$
#variable_conflict use_variable
DECLARE
    g   carbonmkt.pledge := carbonmkt._pledge(pledge_id, true);
    me  bigint;
    p   bigint;
BEGIN
    IF NOT carbonmkt._is_member('carbonmkt_registry') THEN
        me := carbonmkt._finance_actor(acting_for, 'discharge a pledge');
        IF me <> g.pledgee_id THEN
            RAISE EXCEPTION 'only the pledgee or the registry may discharge pledge %', pledge_id
                USING ERRCODE = '42501', DETAIL = 'The pledgee confirms that the secured claim is repaid.';
        END IF;
    END IF;
    PERFORM carbonmkt._pledge_state(g, 'registered', 'discharged');
    p := carbonmkt.release_hold(g.hold_id, reference, format('pledge %s discharged', g.pledge_id));
    PERFORM carbonmkt._pledge_end_offers(g.pledge_id, NULL);
    UPDATE carbonmkt.pledge x SET status = 'discharged', ended_at = carbonmkt.clock_now(), ended_by = session_user
     WHERE x.pledge_id = g.pledge_id;
    RETURN p;
END
$$;
COMMENT ON FUNCTION carbonmkt.discharge_pledge(bigint, text, bigint) IS
  'Discharge (解除质押): the pledgee (or the registry) ends a registered pledge; the pledge hold is released (one registry posting) and open offers lapse.  Returns the posting id.';

CREATE FUNCTION carbonmkt.offer_for_pledge(pledge_id bigint, price numeric, reference text DEFAULT NULL,
                                           acting_for bigint DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp
SET carbonmkt.acting_room = 'finance' AS
$$
#variable_conflict use_variable
DECLARE
    g    carbonmkt.pledge := carbonmkt._pledge(pledge_id, true);
    me   bigint := carbonmkt._finance_actor(acting_for, 'offer for a pledge');
    fen  bigint := carbonmkt._finance_price(price, 'price');
    cash bigint;
    h    bigint;
    id   bigint;
BEGIN
    -- a retry with the same reference returns the offer it made
    IF reference IS NOT NULL THEN
        SELECT o.offer_id, o.pledge_id, o.price_fen INTO id, cash, h
          FROM carbonmkt.pledge_offer o WHERE o.buyer_id = me AND o.reference = offer_for_pledge.reference;
        IF FOUND THEN
            IF (cash, h) IS DISTINCT FROM (g.pledge_id, fen) THEN
                RAISE EXCEPTION 'client reference "%" was already used for a different request', reference
                    USING ERRCODE = 'CM007',
                          DETAIL = format('Offer %s was for pledge %s at %s CNY/t.', id, cash, round(h / 100.0, 2));
            END IF;
            RETURN id;
        END IF;
    END IF;
    PERFORM carbonmkt._pledge_state(g, 'registered', 'offered for');
    IF me IN (g.pledgor_id, g.pledgee_id) THEN
        RAISE EXCEPTION 'participant % is a party to pledge % and cannot buy its units', me, pledge_id USING ERRCODE = 'CM703';
    END IF;
    cash := carbonmkt._finance_account(me, 'cash');
    IF fen > 9223372036854775807 / g.tonnes THEN
        RAISE EXCEPTION 'price % x % t overflows', price, g.tonnes USING ERRCODE = 'CM701';
    END IF;
    h := carbonmkt.hold(cash, 'CNY', fen * g.tonnes, 'other', 0, '', NULL,
                        format('offer for the %s t of pledge %s at %s CNY/t', g.tonnes, g.pledge_id, price));
    INSERT INTO carbonmkt.pledge_offer AS o (pledge_id, buyer_id, price_fen, hold_id, offered_at, reference)
    VALUES (g.pledge_id, me, fen, h, carbonmkt.clock_now(), reference) RETURNING o.offer_id INTO id;
    RETURN id;
END
$$;
COMMENT ON FUNCTION carbonmkt.offer_for_pledge(bigint, numeric, text, bigint) IS
  'A firm offer to buy all units of a registered pledge at a price (CNY per t) if it is enforced by sale: the buyer''s cash for price x tonnes is frozen at once (one registry posting).  Returns the offer id.  Idempotent per client reference (per buyer).';

CREATE FUNCTION carbonmkt.enforce_pledge(pledge_id bigint, method text, offer_id bigint DEFAULT NULL,
                                         reference text DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp
SET carbonmkt.acting_room = 'finance' AS
$$
#variable_conflict use_variable
DECLARE
    g        carbonmkt.pledge;
    o        carbonmkt.pledge_offer;
    proceeds bigint;
    to_pledgee bigint;
    pledgee_holding bigint;
    last     bigint;
BEGIN
    PERFORM carbonmkt._require_registry('enforce a pledge');
    g := carbonmkt._pledge(pledge_id, true);
    PERFORM carbonmkt._pledge_state(g, 'registered', 'enforced');
    IF g.term_end > carbonmkt.business_date() THEN
        RAISE EXCEPTION 'pledge % runs until %; it can be enforced only after its term, not on %', pledge_id, g.term_end,
            carbonmkt.business_date() USING ERRCODE = 'CM703';
    END IF;
    IF method = 'transfer' THEN
        -- 以质物抵偿: the pledged units become the pledgee's
        pledgee_holding := carbonmkt._finance_account(g.pledgee_id, 'holding');
        last := carbonmkt.transfer_from_hold(g.hold_id, pledgee_holding, g.tonnes, reference,
                                             format('pledge %s enforced: units to the pledgee', g.pledge_id));
        PERFORM carbonmkt._pledge_end_offers(g.pledge_id, NULL);
    ELSIF method = 'sale' THEN
        SELECT * INTO o FROM carbonmkt.pledge_offer x
         WHERE x.offer_id = enforce_pledge.offer_id AND x.pledge_id = g.pledge_id AND x.status = 'open' FOR UPDATE;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'offer % is not an open offer for pledge %', coalesce(offer_id::text, 'NULL'), pledge_id
                USING ERRCODE = 'CM703', HINT = 'A sale takes a buyer''s open offer (carbonmkt.offer_for_pledge).';
        END IF;
        proceeds := o.price_fen * g.tonnes;
        to_pledgee := least(proceeds, g.secured_fen);
        -- delivery versus payment, each step one registry posting, all in this transaction
        PERFORM carbonmkt.transfer_from_hold(g.hold_id, carbonmkt._finance_account(o.buyer_id, 'holding'), g.tonnes,
                                             reference, format('pledge %s enforced: sold to participant %s', g.pledge_id, o.buyer_id));
        last := carbonmkt.transfer_from_hold(o.hold_id, carbonmkt._finance_account(g.pledgee_id, 'cash'), to_pledgee,
                                             NULL, format('pledge %s: proceeds to the pledgee', g.pledge_id));
        IF proceeds > to_pledgee THEN
            last := carbonmkt.transfer_from_hold(o.hold_id, carbonmkt._finance_account(g.pledgor_id, 'cash'),
                                                 proceeds - to_pledgee, NULL,
                                                 format('pledge %s: proceeds beyond the secured claim to the pledgor', g.pledge_id));
        END IF;
        UPDATE carbonmkt.pledge_offer x SET status = 'taken', ended_at = carbonmkt.clock_now() WHERE x.offer_id = o.offer_id;
        PERFORM carbonmkt._pledge_end_offers(g.pledge_id, o.offer_id);
    ELSE
        RAISE EXCEPTION 'method must be transfer or sale, got %', coalesce(quote_literal(method), 'NULL') USING ERRCODE = 'CM701';
    END IF;
    UPDATE carbonmkt.pledge x SET status = 'enforced', enforcement = method, ended_at = carbonmkt.clock_now(),
                                  ended_by = session_user, sale_price_fen = o.price_fen, buyer_id = o.buyer_id
     WHERE x.pledge_id = g.pledge_id;
    RETURN last;
END
$$;
COMMENT ON FUNCTION carbonmkt.enforce_pledge(bigint, text, bigint, text) IS
  'Enforcement of a registered pledge after its term (质权实现), by the registry on the pledgee''s claim of default: method transfer moves the pledged units to the pledgee''s holding account; method sale takes a buyer''s open offer: units to the buyer, proceeds to the pledgee up to the secured amount and the rest to the pledgor (delivery versus payment, each step one registry posting in one transaction).  Returns the last posting id.';

-- Repo (回购) ----------------------------------------------------------------------------------

CREATE TABLE carbonmkt.repo_rule (
    jurisdiction    text NOT NULL REFERENCES carbonmkt.jurisdiction,
    valid_from      date NOT NULL,
    valid_until     date,
    on_failure      text NOT NULL CHECK (on_failure IN ('close_out', 'retry_then_close_out')),
    grace_days      int NOT NULL DEFAULT 0 CHECK (grace_days BETWEEN 0 AND 30),
    max_term_days   int NOT NULL CHECK (max_term_days BETWEEN 1 AND 3650),
    illustrative    boolean NOT NULL DEFAULT false,   -- true: not a published value (a demo's, a test's)
    source          text NOT NULL,
    PRIMARY KEY (jurisdiction, valid_from),
    CHECK (valid_until IS NULL OR valid_until >= valid_from)
);
COMMENT ON TABLE carbonmkt.repo_rule IS
  'How a repo''s second leg that cannot settle is handled (on_failure: close_out at once, or retry_then_close_out after grace_days trading days) and the longest term allowed, from valid_from until valid_until (NULL: until replaced).  Rule data (doc/finance.md), administered with carbonmkt.set_rule() by the national authority (doc/rules.md).  None is shipped (no source fixes it): propose_repo refuses (CM704) on a day without one.';


CREATE TABLE carbonmkt.repo (
    repo_id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    seller_id        bigint NOT NULL REFERENCES carbonmkt.participant,    -- 正回购方: sells now, buys back
    buyer_id         bigint NOT NULL REFERENCES carbonmkt.participant,    -- 逆回购方: buys now, sells back
    vintage          int NOT NULL,
    tonnes           bigint NOT NULL CHECK (tonnes > 0),
    start_price_fen  bigint NOT NULL CHECK (start_price_fen > 0),
    repurchase_price_fen bigint NOT NULL CHECK (repurchase_price_fen > 0),
    start_date       date NOT NULL,
    repurchase_date  date NOT NULL,
    status           text NOT NULL DEFAULT 'proposed'
                     CHECK (status IN ('proposed', 'open', 'closed', 'closed_out', 'withdrawn')),
    attempts         int NOT NULL DEFAULT 0,
    failure          text,                                                -- why the second leg failed
    close_out_fen    bigint,                                              -- the closing-out claim
    close_out_creditor bigint REFERENCES carbonmkt.participant,
    proposed_at      timestamptz NOT NULL,
    confirmed_at     timestamptz,
    ended_at         timestamptz,
    reference        text,
    initiator        name NOT NULL,
    CHECK (seller_id <> buyer_id),
    CHECK (repurchase_date > start_date)
);
CREATE UNIQUE INDEX repo_reference ON carbonmkt.repo (initiator, reference) WHERE reference IS NOT NULL;
CREATE INDEX repo_due ON carbonmkt.repo (repurchase_date) WHERE status = 'open';
COMMENT ON TABLE carbonmkt.repo IS
  'Repurchase agreements (买断式回购): the seller sells tonnes of CEA to the buyer now at start_price and buys them back on repurchase_date at repurchase_price.  Both legs settle delivery versus payment through the registry and are recorded in repo_leg (the repo tape), never as market trades.  A second leg that cannot settle is handled by repo_rule and recorded (attempts, failure, close-out claim).';

CREATE TABLE carbonmkt.repo_leg (
    repo_id          bigint NOT NULL REFERENCES carbonmkt.repo,
    leg              int NOT NULL CHECK (leg IN (1, 2)),
    business_date    date NOT NULL,
    executed_at      timestamptz NOT NULL,
    price_fen        bigint NOT NULL,
    tonnes           bigint NOT NULL,
    units_posting    bigint NOT NULL,
    cash_posting     bigint NOT NULL,
    PRIMARY KEY (repo_id, leg)
);
COMMENT ON TABLE carbonmkt.repo_leg IS
  'The repo tape: each settled leg of a repo (1: the sale, 2: the repurchase) with its price, quantity and the two registry postings (units, cash).  Kept apart from carbonmkt.trade: repo legs are financing, not market trades, and do not enter prices or volumes.';

CREATE FUNCTION carbonmkt._repo_rule(p_date date) RETURNS carbonmkt.repo_rule
LANGUAGE plpgsql STABLE AS
$$
DECLARE
    r carbonmkt.repo_rule;
BEGIN
    SELECT * INTO r FROM carbonmkt.repo_rule x
     WHERE x.jurisdiction = 'CN' AND x.valid_from <= p_date AND (x.valid_until IS NULL OR x.valid_until >= p_date)
     ORDER BY x.valid_from DESC LIMIT 1;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no repo rule in force on % (jurisdiction CN): carbonmkt.repo_rule has no row for it', p_date
            USING ERRCODE = 'CM704',
            HINT = 'No source fixes a repo''s failure handling and longest term, so none is shipped: the national authority loads it with carbonmkt.set_rule(''repo_rule'', ...) (doc/rules.md).';
    END IF;
    RETURN r;
END
$$;
COMMENT ON FUNCTION carbonmkt._repo_rule(date) IS 'Internal: the repo rule in force on a date; CM704 when none.';

CREATE FUNCTION carbonmkt.propose_repo(buyer_id bigint, vintage int, tonnes bigint, price numeric,
                                       repurchase_price numeric, repurchase_date date,
                                       reference text DEFAULT NULL, acting_for bigint DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp AS
$$
#variable_conflict use_variable
DECLARE
    me    bigint := carbonmkt._finance_actor(acting_for, 'propose a repo');
    p1    bigint := carbonmkt._finance_price(price, 'price');
    p2    bigint := carbonmkt._finance_price(repurchase_price, 'repurchase_price');
    today date := carbonmkt.business_date();
    r     carbonmkt.repo_rule := carbonmkt._repo_rule(today);
    id    bigint;
BEGIN
    PERFORM carbonmkt._finance_quantity(tonnes, 'tonnes');
    IF vintage IS NULL OR vintage NOT BETWEEN 2005 AND 2100 THEN
        RAISE EXCEPTION 'vintage must be a year within 2005-2100, got %', coalesce(vintage::text, 'NULL') USING ERRCODE = 'CM701';
    END IF;
    IF reference IS NOT NULL THEN
        SELECT x.repo_id INTO id FROM carbonmkt.repo x WHERE x.initiator = session_user AND x.reference = propose_repo.reference;
        IF FOUND THEN
            RETURN id;
        END IF;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM carbonmkt.participant p WHERE p.participant_id = buyer_id) THEN
        RAISE EXCEPTION 'buyer % does not exist', coalesce(buyer_id::text, 'NULL') USING ERRCODE = 'CM002';
    END IF;
    IF buyer_id = me THEN
        RAISE EXCEPTION 'participant % cannot enter a repo with itself', me USING ERRCODE = 'CM704';
    END IF;
    -- both legs move units and cash: each side needs a holding and a cash account (CM702)
    PERFORM carbonmkt._finance_account(me, 'holding'), carbonmkt._finance_account(me, 'cash'),
            carbonmkt._finance_account(buyer_id, 'holding'), carbonmkt._finance_account(buyer_id, 'cash');
    IF repurchase_date IS NULL OR repurchase_date <= today OR repurchase_date > today + r.max_term_days THEN
        RAISE EXCEPTION 'repurchase_date % must be after today (%) and at most % days ahead (repo_rule)',
            coalesce(repurchase_date::text, 'NULL'), today, r.max_term_days USING ERRCODE = 'CM704';
    END IF;
    IF p1 > 9223372036854775807 / tonnes OR p2 > 9223372036854775807 / tonnes THEN
        RAISE EXCEPTION 'price x % t overflows', tonnes USING ERRCODE = 'CM701';
    END IF;
    INSERT INTO carbonmkt.repo AS x (seller_id, buyer_id, vintage, tonnes, start_price_fen, repurchase_price_fen,
                                     start_date, repurchase_date, proposed_at, reference, initiator)
    VALUES (me, buyer_id, vintage, tonnes, p1, p2, today, repurchase_date, carbonmkt.clock_now(), reference, session_user)
    RETURNING x.repo_id INTO id;
    RETURN id;
END
$$;
COMMENT ON FUNCTION carbonmkt.propose_repo(bigint, int, bigint, numeric, numeric, date, text, bigint) IS
  'The seller (正回购方) proposes a repo to a buyer: sell tonnes of CEA of a vintage now at price and buy them back on repurchase_date at repurchase_price (CNY per t).  Nothing moves until the buyer confirms.  Idempotent per client reference.  Returns the repo id.';

-- One DvP leg: units from one participant's holding to the other's, cash the other way.
CREATE FUNCTION carbonmkt._repo_leg(x carbonmkt.repo, p_leg int) RETURNS void
LANGUAGE plpgsql AS
$$
DECLARE
    giver   bigint := CASE p_leg WHEN 1 THEN x.seller_id ELSE x.buyer_id END;
    taker   bigint := CASE p_leg WHEN 1 THEN x.buyer_id ELSE x.seller_id END;
    price   bigint := CASE p_leg WHEN 1 THEN x.start_price_fen ELSE x.repurchase_price_fen END;
    u       bigint;
    c       bigint;
BEGIN
    u := carbonmkt.transfer_cea(carbonmkt._finance_account(giver, 'holding'), carbonmkt._finance_account(taker, 'holding'),
                                x.vintage, x.tonnes, format('carbonmkt:repo:%s:leg%s:units', x.repo_id, p_leg),
                                format('repo %s leg %s', x.repo_id, p_leg));
    c := carbonmkt.transfer_cny(carbonmkt._finance_account(taker, 'cash'), carbonmkt._finance_account(giver, 'cash'),
                                price * x.tonnes, format('carbonmkt:repo:%s:leg%s:cash', x.repo_id, p_leg),
                                format('repo %s leg %s', x.repo_id, p_leg));
    INSERT INTO carbonmkt.repo_leg (repo_id, leg, business_date, executed_at, price_fen, tonnes, units_posting, cash_posting)
    VALUES (x.repo_id, p_leg, carbonmkt.business_date(), carbonmkt.clock_now(), price, x.tonnes, u, c);
END
$$;
COMMENT ON FUNCTION carbonmkt._repo_leg(carbonmkt.repo, int) IS
  'Internal: settles one leg of a repo delivery versus payment (a units posting and a cash posting in one transaction) and writes it to the repo tape.';

CREATE FUNCTION carbonmkt.confirm_repo(repo_id bigint, acting_for bigint DEFAULT NULL)
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp
SET carbonmkt.acting_room = 'finance' AS
$$
#variable_conflict use_variable
DECLARE
    x   carbonmkt.repo;
    me  bigint := carbonmkt._finance_actor(acting_for, 'confirm a repo');
BEGIN
    SELECT * INTO x FROM carbonmkt.repo r WHERE r.repo_id = confirm_repo.repo_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'repo % does not exist', coalesce(repo_id::text, 'NULL') USING ERRCODE = 'CM704';
    END IF;
    IF me <> x.buyer_id THEN
        RAISE EXCEPTION 'only the buyer may confirm repo %', repo_id USING ERRCODE = '42501';
    END IF;
    IF x.status <> 'proposed' THEN
        RAISE EXCEPTION 'repo % is %, so it cannot be confirmed', repo_id, x.status USING ERRCODE = 'CM704';
    END IF;
    IF x.start_date <> carbonmkt.business_date() THEN
        RAISE EXCEPTION 'repo % was proposed for %; a repo is confirmed on the day it is proposed, not on %', repo_id,
            x.start_date, carbonmkt.business_date() USING ERRCODE = 'CM704';
    END IF;
    PERFORM carbonmkt._repo_leg(x, 1);
    UPDATE carbonmkt.repo r SET status = 'open', confirmed_at = carbonmkt.clock_now() WHERE r.repo_id = x.repo_id;
END
$$;
COMMENT ON FUNCTION carbonmkt.confirm_repo(bigint, bigint) IS
  'The buyer (逆回购方) confirms a repo proposed today: the first leg settles at once, delivery versus payment (CM004 when either side lacks units or cash; nothing moves then).';

CREATE FUNCTION carbonmkt.settle_repos(business_date date DEFAULT NULL)
RETURNS TABLE (repo_id bigint, outcome text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp
SET carbonmkt.acting_room = 'finance' AS
$$
#variable_conflict use_column
DECLARE
    d     date := coalesce(settle_repos.business_date, carbonmkt.business_date());
    x     carbonmkt.repo;
    r     carbonmkt.repo_rule;
    close bigint;
    value bigint;
    owed  bigint;
    why   text;
BEGIN
    PERFORM carbonmkt._require_exchange('settle repos');
    IF NOT isfinite(d) THEN
        RAISE EXCEPTION 'business_date must be a finite date, got %', d USING ERRCODE = 'CM701';
    END IF;
    FOR x IN SELECT * FROM carbonmkt.repo y WHERE y.status = 'open' AND y.repurchase_date <= d
              ORDER BY y.repo_id FOR UPDATE LOOP
        BEGIN
            PERFORM carbonmkt._repo_leg(x, 2);
            UPDATE carbonmkt.repo y SET status = 'closed', attempts = y.attempts + 1, ended_at = carbonmkt.clock_now()
             WHERE y.repo_id = x.repo_id;
            repo_id := x.repo_id; outcome := 'repurchased';
            RETURN NEXT;
            CONTINUE;
        EXCEPTION WHEN SQLSTATE 'CM004' OR SQLSTATE 'CM003' OR SQLSTATE 'CM702' THEN
            GET STACKED DIAGNOSTICS why = MESSAGE_TEXT;
        END;
        -- the second leg could not settle: nothing of it moved (the block rolled back); the
        -- repo rule of the day says what happens (CM704 when there is none: nothing changes)
        IF r.jurisdiction IS NULL THEN
            r := carbonmkt._repo_rule(d);
        END IF;
        IF r.on_failure = 'retry_then_close_out'
           AND (SELECT count(*) FROM generate_series(x.repurchase_date + 1, d, interval '1 day') g(day)
                 WHERE carbonmkt.is_trading_day(g.day::date)) < r.grace_days THEN
            UPDATE carbonmkt.repo y SET attempts = y.attempts + 1, failure = why WHERE y.repo_id = x.repo_id;
            repo_id := x.repo_id; outcome := 'retry: ' || why;
            RETURN NEXT;
            CONTINUE;
        END IF;
        -- close-out (违约处置): each side keeps what it holds; the difference between the agreed
        -- repurchase amount and the units' value at the last close is the non-defaulting side's claim
        close := coalesce((SELECT (m.close * 100)::bigint FROM carbonmkt.market_close m
                            JOIN carbonmkt.product p ON p.code = m.product
                           WHERE p.instrument = 'CEA' AND p.vintage = x.vintage AND m.business_date <= d
                           ORDER BY m.business_date DESC, m.product LIMIT 1), x.repurchase_price_fen);
        value := close * x.tonnes;
        owed := x.repurchase_price_fen * x.tonnes - value;
        UPDATE carbonmkt.repo y
           SET status = 'closed_out', attempts = y.attempts + 1, failure = why, ended_at = carbonmkt.clock_now(),
               close_out_fen = abs(owed),
               close_out_creditor = CASE WHEN owed > 0 THEN x.buyer_id WHEN owed < 0 THEN x.seller_id END
         WHERE y.repo_id = x.repo_id;
        repo_id := x.repo_id;
        outcome := format('closed out: %s; claim %s CNY', why, to_char(abs(owed) / 100.0, 'FM999,999,999,999,990.00'));
        RETURN NEXT;
    END LOOP;
END
$$;
COMMENT ON FUNCTION carbonmkt.settle_repos(date) IS
  'End-of-day repo processing (exchange): settles the second leg of every open repo due on or before the date, delivery versus payment.  A leg that cannot settle (units or cash missing) moves nothing and is handled by the repo_rule in force that day (none: CM704, and nothing of the day is settled): retried on the next trading days up to grace_days, then closed out — each side keeps what it has, and the difference between the repurchase amount and the units'' value at the last close is recorded as the other side''s claim.  Returns each repo''s outcome.';

-- The allowance reserve and market adjustment (配额储备和市场调节机制) ------------------------------

CREATE TABLE carbonmkt.reserve_feed_rule (
    jurisdiction    text NOT NULL REFERENCES carbonmkt.jurisdiction,
    year            int NOT NULL CHECK (year BETWEEN 2005 AND 2100),
    cap_share       numeric NOT NULL CHECK (cap_share >= 0 AND cap_share < 1),    -- set aside from the cap
    illustrative    boolean NOT NULL DEFAULT false,   -- true: not a published value (a demo's, a test's)
    source          text NOT NULL,
    PRIMARY KEY (jurisdiction, year)
);
COMMENT ON TABLE carbonmkt.reserve_feed_rule IS
  'How the national reserve is fed in a year: cap_share of the year''s capped sectors'' caps (alloc_cap) is issued into the reserve (预留).  Unsold auction volume of the reserve stays in it; allowances of closed units are moved into it by carbonmkt.absorb_closed_unit().  Rule data, set per year by the national authority with carbonmkt.set_rule() (doc/rules.md); none is shipped (no source gives the share): feed_reserve refuses (CM705) for a year without one.';


CREATE TABLE carbonmkt.reserve_trigger (
    trigger_id      int GENERATED BY DEFAULT AS IDENTITY UNIQUE,
    jurisdiction    text NOT NULL REFERENCES carbonmkt.jurisdiction,
    product         text NOT NULL,              -- the product whose closing prices are watched (e.g. CEA2027)
    kind            text NOT NULL CHECK (kind IN ('price_high', 'price_low', 'supply_high', 'supply_low')),
    lookback_days   int CHECK (lookback_days BETWEEN 1 AND 250),     -- N trading days averaged (price)
    reference_days  int CHECK (reference_days BETWEEN 1 AND 750),    -- the reference average's window before them
    multiple        numeric CHECK (multiple > 0),                    -- price trigger: N-day average vs multiple x reference
    threshold_t     bigint CHECK (threshold_t > 0),                  -- supply trigger: allowances in circulation
    action          text NOT NULL CHECK (action IN ('release', 'absorb', 'withhold')),
    quantity_t      bigint NOT NULL CHECK (quantity_t > 0),
    reserve_price_multiple numeric NOT NULL CHECK (reserve_price_multiple > 0),  -- of the N-day average
    cooldown_days   int NOT NULL DEFAULT 0 CHECK (cooldown_days >= 0),
    valid_from      date NOT NULL,
    valid_until     date,
    illustrative    boolean NOT NULL DEFAULT false,   -- true: not a published value (a demo's, a test's)
    source          text NOT NULL,
    PRIMARY KEY (jurisdiction, product, kind, valid_from),
    CHECK ((kind IN ('price_high', 'price_low')) = (lookback_days IS NOT NULL AND reference_days IS NOT NULL AND multiple IS NOT NULL)),
    CHECK ((kind IN ('supply_high', 'supply_low')) = (threshold_t IS NOT NULL)),
    CHECK (valid_until IS NULL OR valid_until >= valid_from)
);
COMMENT ON TABLE carbonmkt.reserve_trigger IS
  'Market adjustment triggers (市场调节): price_high / price_low compare the average close of the last lookback_days trading days with multiple x the average of the reference_days before them (like RGGI''s cost- and emissions-containment reserves); supply_high / supply_low compare the allowances in circulation (CEA held by participants) with threshold_t (like the EU market stability reserve).  A met trigger schedules action release (the reserve sells quantity_t by one-way bidding), absorb (the reserve buys back quantity_t by one-way bidding), at reserve_price_multiple x the N-day average, or withhold (quantity_t is taken out of the reserve''s planned auctions of the product, reserve_auction_plan), at most once per cooldown_days.  Rule data, set by the national authority with carbonmkt.set_rule() (doc/rules.md); none is shipped (no source gives a trigger): on a day without a trigger in force there is nothing to decide.';


CREATE TABLE carbonmkt.reserve_decision (
    decision_id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    business_date   date NOT NULL,
    trigger_id      int NOT NULL REFERENCES carbonmkt.reserve_trigger (trigger_id),
    met             boolean NOT NULL,
    inputs          jsonb NOT NULL,            -- prices, averages, circulation, thresholds used
    explanation     text NOT NULL,
    action          text CHECK (action IN ('release', 'absorb', 'withhold')),
    quantity_t      bigint,
    status          text NOT NULL CHECK (status IN ('no_action', 'scheduled', 'executed', 'skipped')),
    auction_id      bigint REFERENCES carbonmkt.auction,
    decided_at      timestamptz NOT NULL,
    decided_by      name NOT NULL,
    executed_at     timestamptz,
    withheld_t      bigint CHECK (withheld_t >= 0),   -- a withholding: what it took out of planned auctions
    UNIQUE (business_date, trigger_id),
    CHECK ((status IN ('scheduled', 'executed')) = (action IS NOT NULL))
);
COMMENT ON TABLE carbonmkt.reserve_decision IS
  'One decision per trigger and trading day (idempotent): whether the trigger was met, its inputs (jsonb) and a sentence saying why, and what was scheduled: a release or an absorption, executed as a one-way bidding lot (auction_id), or a withholding, executed by taking withheld_t out of the reserve''s planned auctions (reserve_withholding).  Replays deterministically with the business clock.';

CREATE FUNCTION carbonmkt._reserve_account() RETURNS bigint
LANGUAGE plpgsql STABLE AS
$$
DECLARE
    id bigint;
BEGIN
    SELECT min(a.account_id) INTO id FROM carbonmkt.account a WHERE a.kind = 'national_reserve' AND a.status = 'open';
    IF id IS NULL THEN
        RAISE EXCEPTION 'there is no open national reserve account' USING ERRCODE = 'CM705',
            HINT = 'The registry opens it for the national authority: carbonmkt.open_account(<national authority>, ''national_reserve'').';
    END IF;
    RETURN id;
END
$$;
COMMENT ON FUNCTION carbonmkt._reserve_account() IS 'Internal: the national reserve account (国家储备); CM705 when none is open.';

CREATE FUNCTION carbonmkt.feed_reserve(year int)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp
SET carbonmkt.acting_room = 'finance' AS
$$
#variable_conflict use_variable
DECLARE
    f     carbonmkt.reserve_feed_rule;
    cap   bigint;
    t     bigint;
BEGIN
    PERFORM carbonmkt._require_national_authority('feed the reserve');
    SELECT * INTO f FROM carbonmkt.reserve_feed_rule r WHERE r.jurisdiction = 'CN' AND r.year = feed_reserve.year;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no reserve feed rule for % (jurisdiction CN): carbonmkt.reserve_feed_rule has no row for it', coalesce(year::text, 'NULL')
            USING ERRCODE = 'CM705',
            HINT = 'No source gives the share set aside, so none is shipped: the national authority loads it per year with carbonmkt.set_rule(''reserve_feed_rule'', ...) (doc/rules.md).';
    END IF;
    SELECT sum(c.cap_t) INTO cap FROM carbonmkt.alloc_cap c WHERE c.jurisdiction = 'CN' AND c.year = feed_reserve.year;
    IF cap IS NULL THEN
        RAISE EXCEPTION 'no sector has a cap for % in carbonmkt.alloc_cap: nothing to set aside', year USING ERRCODE = 'CM705';
    END IF;
    t := floor(cap * f.cap_share)::bigint;
    IF t > 0 THEN
        PERFORM carbonmkt.issue_cea(carbonmkt._reserve_account(), year, t, format('carbonmkt:reserve:feed:%s', year),
                                    format('reserve set-aside: %s of the %s caps of %s t', f.cap_share, year, cap));
    END IF;
    RETURN t;
END
$$;
COMMENT ON FUNCTION carbonmkt.feed_reserve(int) IS
  'Issues the year''s set-aside (reserve_feed_rule.cap_share x the sum of the year''s caps in alloc_cap) into the national reserve (预留配额), once per year (idempotent: a fixed client reference).  National authority only.  Returns the tonnes.';

CREATE FUNCTION carbonmkt.absorb_closed_unit(participant_id bigint, vintage int, reference text DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp
SET carbonmkt.acting_room = 'finance' AS
$$
#variable_conflict use_variable
DECLARE
    acct  bigint;
    t     bigint;
BEGIN
    PERFORM carbonmkt._require_national_authority('move a closed unit''s allowances into the reserve');
    IF NOT EXISTS (SELECT 1 FROM carbonmkt.facility f WHERE f.participant_id = absorb_closed_unit.participant_id)
       OR EXISTS (SELECT 1 FROM carbonmkt.facility f WHERE f.participant_id = absorb_closed_unit.participant_id
                     AND NOT EXISTS (SELECT 1 FROM carbonmkt.facility_event e
                                      WHERE e.facility_id = f.facility_id AND e.kind = 'closure')) THEN
        RAISE EXCEPTION 'participant % is not a closed unit: it has facilities without a closure event', participant_id
            USING ERRCODE = 'CM705', HINT = 'Record the closure first: carbonmkt.change_facility(facility, ''closure'', ...).';
    END IF;
    SELECT min(a.account_id) INTO acct FROM carbonmkt.account a
     WHERE a.participant_id = absorb_closed_unit.participant_id AND a.kind = 'holding';
    t := carbonmkt._available(acct, 'CEA', vintage, '');
    IF t > 0 THEN
        PERFORM carbonmkt.transfer_cea(acct, carbonmkt._reserve_account(), vintage, t, reference,
                                       format('allowances of closed unit %s into the reserve', participant_id));
    END IF;
    RETURN t;
END
$$;
COMMENT ON FUNCTION carbonmkt.absorb_closed_unit(bigint, int, text) IS
  'Moves the available allowances of a vintage of a unit whose facilities are all closed into the national reserve (one registry posting).  National authority only.  Returns the tonnes moved.';

-- Inputs of a trigger on a date: the closes of the product in the two windows, the circulation.
CREATE FUNCTION carbonmkt._reserve_inputs(t carbonmkt.reserve_trigger, p_date date) RETURNS jsonb
LANGUAGE plpgsql STABLE AS
$$
DECLARE
    recent    numeric;
    reference numeric;
    n_recent  int;
    n_ref     int;
    circ      bigint;
BEGIN
    IF t.kind IN ('price_high', 'price_low') THEN
        WITH days AS (
            SELECT m.business_date, m.close * 100 AS close_fen,
                   row_number() OVER (ORDER BY m.business_date DESC) AS k
              FROM carbonmkt.market_close m
             WHERE m.product = t.product AND m.business_date <= p_date AND m.close IS NOT NULL)
        SELECT avg(close_fen) FILTER (WHERE k <= t.lookback_days), count(*) FILTER (WHERE k <= t.lookback_days),
               avg(close_fen) FILTER (WHERE k > t.lookback_days AND k <= t.lookback_days + t.reference_days),
               count(*) FILTER (WHERE k > t.lookback_days AND k <= t.lookback_days + t.reference_days)
          INTO recent, n_recent, reference, n_ref
          FROM days;
        RETURN jsonb_build_object('product', t.product, 'lookback_days', t.lookback_days, 'closes_in_lookback', n_recent,
                                  'average_fen', round(recent, 2), 'reference_days', t.reference_days,
                                  'closes_in_reference', n_ref, 'reference_average_fen', round(reference, 2),
                                  'multiple', t.multiple, 'trigger_fen', round(reference * t.multiple, 2));
    END IF;
    SELECT coalesce(sum(h.balance), 0) INTO circ
      FROM carbonmkt.holding h JOIN carbonmkt.account a ON a.account_id = h.account_id
     WHERE h.instrument = 'CEA' AND a.kind = 'holding';
    RETURN jsonb_build_object('circulation_t', circ, 'threshold_t', t.threshold_t);
END
$$;
COMMENT ON FUNCTION carbonmkt._reserve_inputs(carbonmkt.reserve_trigger, date) IS
  'Internal: the inputs a trigger is decided on, as of a date: for price triggers the N-day and reference averages of the product''s closes (fen) and the trigger price; for supply triggers the allowances in circulation (CEA in participants'' holding accounts) and the threshold.';

CREATE FUNCTION carbonmkt.evaluate_market_adjustment(business_date date DEFAULT NULL)
RETURNS SETOF carbonmkt.reserve_decision
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp AS
$$
#variable_conflict use_column
DECLARE
    d       date := coalesce(evaluate_market_adjustment.business_date, carbonmkt.business_date());
    t       carbonmkt.reserve_trigger;
    i       jsonb;
    met     boolean;
    why     text;
    recent  numeric;
    trig    numeric;
    last    date;
BEGIN
    IF NOT (carbonmkt._is_member('carbonmkt_exchange') OR carbonmkt._is_member('carbonmkt_registry')) THEN
        PERFORM carbonmkt._require_national_authority('evaluate the market adjustment triggers');
    END IF;
    IF NOT isfinite(d) THEN
        RAISE EXCEPTION 'business_date must be a finite date, got %', d USING ERRCODE = 'CM701';
    END IF;
    FOR t IN SELECT * FROM carbonmkt.reserve_trigger x
              WHERE x.valid_from <= d AND (x.valid_until IS NULL OR x.valid_until >= d) ORDER BY x.trigger_id LOOP
        IF EXISTS (SELECT 1 FROM carbonmkt.reserve_decision r WHERE r.business_date = d AND r.trigger_id = t.trigger_id) THEN
            CONTINUE;       -- decided already: idempotent per day
        END IF;
        i := carbonmkt._reserve_inputs(t, d);
        IF t.kind IN ('price_high', 'price_low') THEN
            recent := (i->>'average_fen')::numeric;
            trig := (i->>'trigger_fen')::numeric;
            IF (i->>'closes_in_lookback')::int < t.lookback_days OR (i->>'closes_in_reference')::int < t.reference_days THEN
                met := false;
                why := format('not enough closes: %s of %s recent and %s of %s reference trading days',
                              i->>'closes_in_lookback', t.lookback_days, i->>'closes_in_reference', t.reference_days);
            ELSE
                met := CASE t.kind WHEN 'price_high' THEN recent > trig ELSE recent < trig END;
                why := format('%s-day average close %s CNY %s %s x the %s-day reference average %s CNY = %s CNY',
                              t.lookback_days, to_char(recent / 100, 'FM999999990.00'),
                              CASE WHEN recent > trig THEN 'is above' WHEN recent < trig THEN 'is below' ELSE 'equals' END,
                              t.multiple, t.reference_days, to_char((i->>'reference_average_fen')::numeric / 100, 'FM999999990.00'),
                              to_char(trig / 100, 'FM999999990.00'));
            END IF;
        ELSE
            met := CASE t.kind WHEN 'supply_high' THEN (i->>'circulation_t')::bigint > t.threshold_t
                                ELSE (i->>'circulation_t')::bigint < t.threshold_t END;
            why := format('%s t in circulation, threshold %s t', i->>'circulation_t', t.threshold_t);
        END IF;
        IF met THEN
            SELECT max(r.business_date) INTO last FROM carbonmkt.reserve_decision r
             WHERE r.trigger_id = t.trigger_id AND r.status IN ('scheduled', 'executed');
            IF last IS NOT NULL AND d - last < t.cooldown_days THEN
                why := why || format('; met, but the last %s was on %s, within the %s-day cooldown', t.action, last, t.cooldown_days);
                INSERT INTO carbonmkt.reserve_decision (business_date, trigger_id, met, inputs, explanation, status, decided_at, decided_by)
                VALUES (d, t.trigger_id, true, i, why, 'skipped', carbonmkt.clock_now(), session_user);
                CONTINUE;
            END IF;
            INSERT INTO carbonmkt.reserve_decision (business_date, trigger_id, met, inputs, explanation, action, quantity_t,
                                                    status, decided_at, decided_by)
            VALUES (d, t.trigger_id, true, i, why || format(': %s %s', t.action, carbonmkt._t(t.quantity_t)), t.action, t.quantity_t,
                    'scheduled', carbonmkt.clock_now(), session_user);
        ELSE
            INSERT INTO carbonmkt.reserve_decision (business_date, trigger_id, met, inputs, explanation, status, decided_at, decided_by)
            VALUES (d, t.trigger_id, false, i, why, 'no_action', carbonmkt.clock_now(), session_user);
        END IF;
    END LOOP;
    RETURN QUERY SELECT * FROM carbonmkt.reserve_decision r WHERE r.business_date = d ORDER BY r.trigger_id;
END
$$;
COMMENT ON FUNCTION carbonmkt.evaluate_market_adjustment(date) IS
  'Decides every market adjustment trigger in force on a trading day (end of day; pg_cron can call it): records each decision with its inputs and why, and schedules a release or an absorption where a trigger is met and not in its cooldown.  Idempotent per day and trigger; replays deterministically with the business clock.  Exchange, registry or national authority.  Returns the day''s decisions.';

CREATE FUNCTION carbonmkt.execute_reserve_decision(decision_id bigint, opens_at timestamptz, closes_at timestamptz)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp AS
$$
#variable_conflict use_variable
DECLARE
    r      carbonmkt.reserve_decision;
    t      carbonmkt.reserve_trigger;
    me     bigint := carbonmkt._require_national_authority('execute a reserve decision');
    price  numeric;
    id     bigint;
BEGIN
    SELECT * INTO r FROM carbonmkt.reserve_decision x WHERE x.decision_id = execute_reserve_decision.decision_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'reserve decision % does not exist', coalesce(decision_id::text, 'NULL') USING ERRCODE = 'CM705';
    END IF;
    IF r.status <> 'scheduled' THEN
        RAISE EXCEPTION 'reserve decision % is %, not scheduled', decision_id, r.status USING ERRCODE = 'CM705';
    END IF;
    IF r.action = 'withhold' THEN
        RAISE EXCEPTION 'reserve decision % withholds auction volume: it is executed by carbonmkt.withhold_auction_volume(%), not by an auction',
            decision_id, decision_id USING ERRCODE = 'CM705';
    END IF;
    SELECT * INTO t FROM carbonmkt.reserve_trigger x WHERE x.trigger_id = r.trigger_id;
    price := round(coalesce((r.inputs->>'average_fen')::numeric,
                            (SELECT p.reference_price_fen FROM carbonmkt.product p WHERE p.code = t.product))
                   * t.reserve_price_multiple / 100, 2);
    id := carbonmkt.announce_auction(t.product, CASE r.action WHEN 'release' THEN 'sell' ELSE 'buy' END, r.quantity_t,
                                     price, opens_at, closes_at, format('carbonmkt:reserve:decision:%s', r.decision_id), me);
    UPDATE carbonmkt.reserve_decision x SET status = 'executed', auction_id = id, executed_at = carbonmkt.clock_now()
     WHERE x.decision_id = r.decision_id;
    RETURN id;
END
$$;
COMMENT ON FUNCTION carbonmkt.execute_reserve_decision(bigint, timestamptz, timestamptz) IS
  'Executes a scheduled reserve decision as a one-way bidding lot of the national authority in today''s window: a release sells quantity_t from the national reserve (reserve price = reserve_price_multiple x the N-day average close), an absorption buys quantity_t back into it (highest price the same).  Proceeds go to, and purchases are paid from, the national authority''s cash account.  Unsold volume stays in the reserve.  National authority only.  Returns the auction id.';

-- Withholding (暂停或减少拍卖): the reserve's planned auctions, and a decision that takes volume
-- out of them.  Paid allocation is not withheld: it is each unit's own allocation sold to it.
CREATE TABLE carbonmkt.reserve_auction_plan (
    plan_id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    product         text NOT NULL,              -- the product sold (e.g. CEA2027)
    auction_date    date NOT NULL,              -- the trading day it is to be offered on
    planned_t       bigint NOT NULL CHECK (planned_t > 0),
    withheld_t      bigint NOT NULL DEFAULT 0 CHECK (withheld_t >= 0 AND withheld_t <= planned_t),
    status          text NOT NULL DEFAULT 'planned' CHECK (status IN ('planned', 'offered', 'withheld')),
    auction_id      bigint REFERENCES carbonmkt.auction,
    memo            text,
    planned_by      name NOT NULL,
    planned_at      timestamptz NOT NULL,
    CHECK ((status = 'offered') = (auction_id IS NOT NULL)),
    CHECK ((status = 'withheld') = (withheld_t = planned_t))
);
CREATE INDEX reserve_auction_plan_due ON carbonmkt.reserve_auction_plan (product, auction_date) WHERE status = 'planned';
COMMENT ON TABLE carbonmkt.reserve_auction_plan IS
  'The national reserve''s planned one-way bidding sales (拍卖计划): planned_t of a product on a trading day.  A withholding decision takes volume out of them before they are offered (withheld_t; status withheld when nothing is left); carbonmkt.offer_planned_auction() offers planned_t - withheld_t on the day (status offered, auction_id).  Public market information.';

CREATE TABLE carbonmkt.reserve_withholding (
    decision_id     bigint NOT NULL REFERENCES carbonmkt.reserve_decision,
    plan_id         bigint NOT NULL REFERENCES carbonmkt.reserve_auction_plan,
    withheld_t      bigint NOT NULL CHECK (withheld_t > 0),
    withheld_at     timestamptz NOT NULL,
    PRIMARY KEY (decision_id, plan_id)
);
COMMENT ON TABLE carbonmkt.reserve_withholding IS
  'What each withholding decision took out of which planned reserve auction (tonnes): the units stay in the national reserve instead of entering circulation.';

CREATE FUNCTION carbonmkt.plan_reserve_auction(product text, tonnes bigint, auction_date date, memo text DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp AS
$$
#variable_conflict use_variable
DECLARE
    me  bigint := carbonmkt._require_national_authority('plan a reserve auction');
    id  bigint;
BEGIN
    PERFORM carbonmkt._finance_quantity(tonnes, 'tonnes');
    PERFORM carbonmkt._check_plausible('plan_reserve_auction', 'tonnes', 'issue_quantity', 'CEA', tonnes);
    PERFORM carbonmkt._check_text('plan_reserve_auction', 'memo', memo);
    IF NOT EXISTS (SELECT 1 FROM carbonmkt.product p WHERE p.code = product) THEN
        RAISE EXCEPTION 'product % does not exist', coalesce(product, 'NULL') USING ERRCODE = 'CM705',
            HINT = 'The products are the rows of carbonmkt.product (carbonmkt.list_product).';
    END IF;
    IF auction_date IS NULL OR NOT isfinite(auction_date) OR auction_date < carbonmkt.business_date() THEN
        RAISE EXCEPTION 'auction_date % must be today (%) or later', coalesce(auction_date::text, 'NULL'), carbonmkt.business_date()
            USING ERRCODE = 'CM705';
    END IF;
    IF NOT carbonmkt.is_trading_day(auction_date, 'CN') THEN
        RAISE EXCEPTION 'auction_date % is not a trading day', auction_date USING ERRCODE = 'CM705',
            HINT = 'A one-way bidding lot is offered on a trading day (carbonmkt.is_trading_day).';
    END IF;
    INSERT INTO carbonmkt.reserve_auction_plan AS x (product, auction_date, planned_t, memo, planned_by, planned_at)
    VALUES (product, auction_date, tonnes, memo, session_user, carbonmkt.clock_now())
    RETURNING x.plan_id INTO id;
    RETURN id;
END
$$;
COMMENT ON FUNCTION carbonmkt.plan_reserve_auction(text, bigint, date, text) IS
  'Plans a sale of tonnes of a product from the national reserve by one-way bidding on a trading day (reserve_auction_plan): the volume a withholding decision can take out before the day.  National authority only.  Returns the plan id.';

CREATE FUNCTION carbonmkt.withhold_auction_volume(decision_id bigint)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp AS
$$
#variable_conflict use_variable
DECLARE
    r      carbonmkt.reserve_decision;
    t      carbonmkt.reserve_trigger;
    me     bigint := carbonmkt._require_national_authority('withhold auction volume');
    pl     carbonmkt.reserve_auction_plan;
    left_t bigint;
    w      bigint;
    ts     timestamptz := carbonmkt.clock_now();
BEGIN
    SELECT * INTO r FROM carbonmkt.reserve_decision d WHERE d.decision_id = withhold_auction_volume.decision_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'reserve decision % does not exist', coalesce(decision_id::text, 'NULL') USING ERRCODE = 'CM705';
    END IF;
    IF r.status <> 'scheduled' OR r.action <> 'withhold' THEN
        RAISE EXCEPTION 'reserve decision % is %, not a scheduled withholding', decision_id,
            r.status || coalesce(' ' || r.action, '') USING ERRCODE = 'CM705';
    END IF;
    SELECT * INTO t FROM carbonmkt.reserve_trigger x WHERE x.trigger_id = r.trigger_id;
    left_t := r.quantity_t;
    -- the earliest planned auctions first, from today on
    FOR pl IN SELECT * FROM carbonmkt.reserve_auction_plan p
              WHERE p.product = t.product AND p.status = 'planned' AND p.auction_date >= carbonmkt.business_date()
              ORDER BY p.auction_date, p.plan_id FOR UPDATE LOOP
        EXIT WHEN left_t = 0;
        w := least(left_t, pl.planned_t - pl.withheld_t);
        UPDATE carbonmkt.reserve_auction_plan p
           SET withheld_t = p.withheld_t + w,
               status = CASE WHEN p.withheld_t + w = p.planned_t THEN 'withheld' ELSE 'planned' END
         WHERE p.plan_id = pl.plan_id;
        INSERT INTO carbonmkt.reserve_withholding (decision_id, plan_id, withheld_t, withheld_at)
        VALUES (r.decision_id, pl.plan_id, w, ts);
        left_t := left_t - w;
    END LOOP;
    IF left_t = r.quantity_t THEN
        RAISE EXCEPTION 'no planned reserve auction of % from % on to withhold %', t.product, carbonmkt.business_date(),
            carbonmkt._t(r.quantity_t) USING ERRCODE = 'CM705',
            HINT = 'The national authority plans the reserve''s sales with carbonmkt.plan_reserve_auction(); or absorb by buy-back (a trigger with action absorb).';
    END IF;
    UPDATE carbonmkt.reserve_decision d SET status = 'executed', executed_at = ts, withheld_t = r.quantity_t - left_t
     WHERE d.decision_id = r.decision_id;
    RETURN r.quantity_t - left_t;
END
$$;
COMMENT ON FUNCTION carbonmkt.withhold_auction_volume(bigint) IS
  'Executes a scheduled withholding decision: takes its quantity_t out of the national reserve''s planned auctions of the trigger''s product (reserve_auction_plan, the earliest from today first), so the units stay in the reserve; what it could not find planned is not withheld.  Records each plan''s part (reserve_withholding).  National authority only.  Returns the tonnes withheld; CM705 when nothing is planned.';

CREATE FUNCTION carbonmkt.offer_planned_auction(plan_id bigint, reserve_price numeric, opens_at timestamptz,
                                                closes_at timestamptz)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp AS
$$
#variable_conflict use_variable
DECLARE
    me  bigint := carbonmkt._require_national_authority('offer a planned reserve auction');
    x   carbonmkt.reserve_auction_plan;
    id  bigint;
BEGIN
    PERFORM carbonmkt._finance_price(reserve_price, 'reserve_price');
    SELECT * INTO x FROM carbonmkt.reserve_auction_plan p WHERE p.plan_id = offer_planned_auction.plan_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'reserve auction plan % does not exist', coalesce(plan_id::text, 'NULL') USING ERRCODE = 'CM705';
    END IF;
    IF x.status <> 'planned' THEN
        RAISE EXCEPTION 'reserve auction plan % is %: % of % planned were withheld', plan_id, x.status,
            carbonmkt._t(x.withheld_t), carbonmkt._t(x.planned_t) USING ERRCODE = 'CM705';
    END IF;
    IF x.auction_date <> carbonmkt.business_date() THEN
        RAISE EXCEPTION 'reserve auction plan % is for %, not today (%)', plan_id, x.auction_date, carbonmkt.business_date()
            USING ERRCODE = 'CM705';
    END IF;
    id := carbonmkt.announce_auction(x.product, 'sell', x.planned_t - x.withheld_t, reserve_price, opens_at, closes_at,
                                     format('carbonmkt:reserve:plan:%s', x.plan_id), me);
    UPDATE carbonmkt.reserve_auction_plan p SET status = 'offered', auction_id = id WHERE p.plan_id = x.plan_id;
    RETURN id;
END
$$;
COMMENT ON FUNCTION carbonmkt.offer_planned_auction(bigint, numeric, timestamptz, timestamptz) IS
  'Offers a planned reserve auction on its day: a one-way bidding lot of the national authority selling planned_t - withheld_t from the national reserve at the reserve price, in today''s window.  National authority only.  Returns the auction id.';

CREATE VIEW carbonmkt.reserve_auction_schedule WITH (security_invoker = true) AS
SELECT p.plan_id, p.product, p.auction_date, p.planned_t, p.withheld_t, p.planned_t - p.withheld_t AS offered_t,
       p.status, p.auction_id,
       (SELECT string_agg(format('decision %s: %s t', w.decision_id, w.withheld_t), '; ' ORDER BY w.decision_id)
          FROM carbonmkt.reserve_withholding w WHERE w.plan_id = p.plan_id) AS withheld_by,
       p.memo
  FROM carbonmkt.reserve_auction_plan p;
COMMENT ON VIEW carbonmkt.reserve_auction_schedule IS
  'The national reserve''s planned auctions (拍卖计划): planned, withheld by which market adjustment decisions, and what is (or was) offered.  Public market information.';
COMMENT ON COLUMN carbonmkt.reserve_auction_schedule.plan_id IS 'The plan (carbonmkt.plan_reserve_auction).';
COMMENT ON COLUMN carbonmkt.reserve_auction_schedule.product IS 'The product to be sold, e.g. CEA2027.';
COMMENT ON COLUMN carbonmkt.reserve_auction_schedule.auction_date IS 'The trading day it is to be offered on.';
COMMENT ON COLUMN carbonmkt.reserve_auction_schedule.planned_t IS 'Tonnes planned.';
COMMENT ON COLUMN carbonmkt.reserve_auction_schedule.withheld_t IS 'Tonnes withheld by withholding decisions (they stay in the reserve).';
COMMENT ON COLUMN carbonmkt.reserve_auction_schedule.offered_t IS 'Tonnes left to offer: planned_t - withheld_t.';
COMMENT ON COLUMN carbonmkt.reserve_auction_schedule.status IS 'planned, offered (auction_id) or withheld (nothing left).';
COMMENT ON COLUMN carbonmkt.reserve_auction_schedule.auction_id IS 'The one-way bidding lot it was offered as.';
COMMENT ON COLUMN carbonmkt.reserve_auction_schedule.withheld_by IS 'Which decisions withheld how much.';
COMMENT ON COLUMN carbonmkt.reserve_auction_schedule.memo IS 'The authority''s note.';

CREATE VIEW carbonmkt.market_adjustment_decisions WITH (security_invoker = true) AS
SELECT r.business_date, r.decision_id, t.trigger_id, t.kind, t.product, t.action AS trigger_action, r.met, r.status,
       r.quantity_t, r.explanation, r.inputs, r.auction_id, a.allocated AS auction_allocated_t,
       a.clearing_fen AS auction_clearing_fen, t.illustrative, t.source, r.withheld_t
  FROM carbonmkt.reserve_decision r
  JOIN carbonmkt.reserve_trigger t ON t.trigger_id = r.trigger_id
  LEFT JOIN carbonmkt.auction a ON a.auction_id = r.auction_id;
COMMENT ON VIEW carbonmkt.market_adjustment_decisions IS
  'Why each market adjustment decision was taken: the trigger (kind, product, whether illustrative, its source), whether it was met, the inputs and the sentence that explains it, what was scheduled and what its auction allocated at which price, or what a withholding took out of the planned auctions (withheld_t).  Public market information.';

-- Paid allocation (有偿分配) --------------------------------------------------------------------

CREATE TABLE carbonmkt.paid_allocation_rule (
    jurisdiction    text NOT NULL REFERENCES carbonmkt.jurisdiction,
    sector          text NOT NULL REFERENCES carbonmkt.sector,
    from_year       int NOT NULL CHECK (from_year BETWEEN 2005 AND 2100),
    until_year      int CHECK (until_year >= from_year AND until_year <= 2100),     -- NULL: until replaced
    paid_share      numeric NOT NULL CHECK (paid_share > 0 AND paid_share < 1),
    method          text NOT NULL CHECK (method IN ('auction', 'fixed_price')),
    price_fen       bigint NOT NULL CHECK (price_fen > 0),    -- fixed price, or the auction's reserve price
    lock_free       boolean NOT NULL DEFAULT false,           -- Guangdong: free units locked until the paid share is bought
    illustrative    boolean NOT NULL DEFAULT false,   -- true: not a published value (a demo's, a test's)
    source          text NOT NULL,
    PRIMARY KEY (jurisdiction, sector, from_year)
);
COMMENT ON TABLE carbonmkt.paid_allocation_rule IS
  'Paid allocation (有偿分配) per jurisdiction, sector and years: the paid share of each unit''s allocation, the method (auction: one-way bidding with price_fen as reserve price; fixed_price: sold at price_fen), and lock_free (the Guangdong pilot''s rule, RULES.md 3 [S1 L1095]: a unit''s free allowances can be neither traded nor surrendered until it has bought its paid share).  Rule data, set with carbonmkt.set_rule() (doc/rules.md); none is shipped (no source gives a share): apply_paid_allocation and offer_paid_allocation refuse (CM706) for a sector and year without one.';


CREATE TABLE carbonmkt.paid_entitlement (
    participant_id  bigint NOT NULL REFERENCES carbonmkt.participant,
    year            int NOT NULL,
    allocated_t     bigint NOT NULL,         -- the unit's allocation the share applies to
    paid_share      numeric NOT NULL,
    paid_due_t      bigint NOT NULL CHECK (paid_due_t >= 0),   -- what it must buy
    bought_t        bigint NOT NULL DEFAULT 0 CHECK (bought_t >= 0),
    method          text NOT NULL,
    price_fen       bigint NOT NULL,
    lock_hold_id    bigint REFERENCES carbonmkt.hold,          -- the lock on its free units (lock_free)
    adjustment_id   bigint,                                    -- the allocation_adjustment withholding the paid part
    applied_at      timestamptz NOT NULL,
    PRIMARY KEY (participant_id, year)
);
COMMENT ON TABLE carbonmkt.paid_entitlement IS
  'Per unit and year: the paid part of its allocation (paid_due_t = paid_share x allocated_t, rounded half up), withheld from its free issuance (an allocation_adjustment of reason paid_share), what it has bought of it, and the lock on its free units where the rule locks them.';

CREATE TABLE carbonmkt.paid_sale (
    sale_id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    participant_id  bigint NOT NULL REFERENCES carbonmkt.participant,
    year            int NOT NULL,
    tonnes          bigint NOT NULL CHECK (tonnes > 0),
    price_fen       bigint NOT NULL CHECK (price_fen > 0),
    method          text NOT NULL CHECK (method IN ('auction', 'fixed_price')),
    auction_id      bigint REFERENCES carbonmkt.auction,
    trade_id        bigint REFERENCES carbonmkt.trade,
    units_posting   bigint,
    cash_posting    bigint,
    business_date   date NOT NULL,
    recorded_at     timestamptz NOT NULL,
    reference       text,                                               -- the buyer's client reference (idempotency)
    CHECK ((method = 'auction') = (auction_id IS NOT NULL))
);
CREATE UNIQUE INDEX paid_sale_reference ON carbonmkt.paid_sale (participant_id, reference) WHERE reference IS NOT NULL;
CREATE UNIQUE INDEX paid_sale_trade ON carbonmkt.paid_sale (trade_id) WHERE trade_id IS NOT NULL;
CREATE INDEX paid_sale_unit ON carbonmkt.paid_sale (participant_id, year);
COMMENT ON TABLE carbonmkt.paid_sale IS
  'Every purchase of paid allocation: at the fixed price (the two registry postings) or won in a paid-allocation auction (the trade).  The proceeds are in the authority''s cash account (its fiscal account).';

CREATE FUNCTION carbonmkt._paid_rule(p_sector text, p_year int) RETURNS carbonmkt.paid_allocation_rule
LANGUAGE sql STABLE AS
$$ SELECT * FROM carbonmkt.paid_allocation_rule r
    WHERE r.jurisdiction = 'CN' AND r.sector = p_sector AND p_year >= r.from_year AND p_year <= coalesce(r.until_year, 2100)
    ORDER BY r.from_year DESC LIMIT 1 $$;
COMMENT ON FUNCTION carbonmkt._paid_rule(text, int) IS 'Internal: the paid allocation rule of a sector and year, or NULL.';

CREATE FUNCTION carbonmkt.apply_paid_allocation(year int, sector text)
RETURNS TABLE (participant_id bigint, allocated_t bigint, paid_due_t bigint, locked_t bigint)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp
SET carbonmkt.acting_room = 'finance' AS
$$
#variable_conflict use_column
DECLARE
    r     carbonmkt.paid_allocation_rule;
    u     record;
    due   bigint;
    adj   bigint;
    h     bigint;
    acct  bigint;
    avail bigint;
BEGIN
    PERFORM carbonmkt._require_national_authority('apply paid allocation');
    r := carbonmkt._paid_rule(apply_paid_allocation.sector, apply_paid_allocation.year);
    IF r.sector IS NULL THEN
        RAISE EXCEPTION 'no paid allocation rule for sector % in % (jurisdiction CN): carbonmkt.paid_allocation_rule has no row for it',
            coalesce(apply_paid_allocation.sector, 'NULL'), coalesce(apply_paid_allocation.year::text, 'NULL')
            USING ERRCODE = 'CM706',
                  HINT = 'No source gives a paid share, so none is shipped: the national authority loads it with carbonmkt.set_rule(''paid_allocation_rule'', ...) (doc/rules.md).';
    END IF;
    FOR u IN SELECT a.participant_id, a.allocated_t
               FROM carbonmkt._allocated_by_year a JOIN carbonmkt.participant p ON p.participant_id = a.participant_id
              WHERE a.year = apply_paid_allocation.year AND p.sector = apply_paid_allocation.sector
                AND NOT EXISTS (SELECT 1 FROM carbonmkt.paid_entitlement e
                                 WHERE e.participant_id = a.participant_id AND e.year = apply_paid_allocation.year)
              ORDER BY a.participant_id LOOP
        due := round(u.allocated_t * r.paid_share)::bigint;
        adj := NULL;
        IF due > 0 THEN
            INSERT INTO carbonmkt.allocation_adjustment AS x (participant_id, year, tonnes, reason, recorded_at, recorded_by)
            VALUES (u.participant_id, apply_paid_allocation.year, due, 'paid_share', carbonmkt.clock_now(), session_user)
            RETURNING x.adjustment_id INTO adj;
        END IF;
        h := NULL;
        avail := 0;
        IF r.lock_free THEN
            SELECT min(a.account_id) INTO acct FROM carbonmkt.account a
             WHERE a.participant_id = u.participant_id AND a.kind = 'holding' AND a.status = 'open';
            avail := carbonmkt._available(acct, 'CEA', apply_paid_allocation.year, '');
            IF avail > 0 AND due > 0 THEN
                h := carbonmkt.hold(acct, 'CEA', avail, 'paid_lock', apply_paid_allocation.year, '',
                                    format('carbonmkt:paid_lock:%s:%s', u.participant_id, apply_paid_allocation.year),
                                    format('free %s allowances locked until the paid share of %s t is bought',
                                           apply_paid_allocation.year, due));
            END IF;
        END IF;
        INSERT INTO carbonmkt.paid_entitlement (participant_id, year, allocated_t, paid_share, paid_due_t, method,
                                                price_fen, lock_hold_id, adjustment_id, applied_at)
        VALUES (u.participant_id, apply_paid_allocation.year, u.allocated_t, r.paid_share, due, r.method, r.price_fen,
                h, adj, carbonmkt.clock_now());
        participant_id := u.participant_id; allocated_t := u.allocated_t; paid_due_t := due;
        locked_t := CASE WHEN h IS NULL THEN 0 ELSE avail END;
        RETURN NEXT;
    END LOOP;
END
$$;
COMMENT ON FUNCTION carbonmkt.apply_paid_allocation(int, text) IS
  'Applies the year''s paid allocation rule to every unit of a sector with an allocation (once per unit and year): paid_due_t = paid_share x its allocation, withheld from its free issuance (an allocation_adjustment of reason paid_share: the allocation runs issue net of it, and settle_allocation_adjustments() takes it back once final), and, where the rule locks free units (Guangdong), a paid_lock hold on the unit''s free allowances of the year until it has bought its share.  National authority only.';

CREATE FUNCTION carbonmkt._paid_bought(p_participant bigint, p_year int, p_tonnes bigint) RETURNS void
LANGUAGE plpgsql AS
$$
DECLARE
    e carbonmkt.paid_entitlement;
BEGIN
    UPDATE carbonmkt.paid_entitlement x SET bought_t = x.bought_t + p_tonnes
     WHERE x.participant_id = p_participant AND x.year = p_year
    RETURNING * INTO e;
    IF e.lock_hold_id IS NOT NULL AND e.bought_t >= e.paid_due_t
       AND (SELECT h.status FROM carbonmkt.hold h WHERE h.hold_id = e.lock_hold_id) = 'active' THEN
        PERFORM carbonmkt.release_hold(e.lock_hold_id, NULL,
                                       format('paid share of %s t bought: free %s allowances unlocked', e.paid_due_t, p_year));
    END IF;
END
$$;
COMMENT ON FUNCTION carbonmkt._paid_bought(bigint, int, bigint) IS
  'Internal: counts a purchase of paid allocation and lifts the unit''s lock once its paid share is bought.';

CREATE FUNCTION carbonmkt._paid_lock_detail(p_account bigint, p_vintage int) RETURNS text
LANGUAGE sql STABLE AS
$$
SELECT coalesce(string_agg(format('Unit %s (%s): %s of its free %s allowances are locked (paid_lock) until it has bought its paid share of %s x %s = %s; %s still to buy.',
                                  e.participant_id, p.name, carbonmkt._t(h.remaining), e.year, e.paid_share,
                                  carbonmkt._t(e.allocated_t), carbonmkt._t(e.paid_due_t),
                                  carbonmkt._t(e.paid_due_t - e.bought_t)), ' ' ORDER BY e.year),
                'Free allowances are locked until the unit has bought its paid share.')
  FROM carbonmkt.paid_entitlement e
  JOIN carbonmkt.hold h ON h.hold_id = e.lock_hold_id AND h.status = 'active'
  JOIN carbonmkt.participant p ON p.participant_id = e.participant_id
 WHERE h.account_id = p_account AND e.year = p_vintage
$$;
COMMENT ON FUNCTION carbonmkt._paid_lock_detail(bigint, int) IS
  'Internal: the sentence the registry''s available-quantity refusal (CM004) gives for an account whose free allowances of a vintage are locked by paid allocation: the unit, its share, its due and what it still has to buy.';

CREATE FUNCTION carbonmkt.buy_paid_allocation(vintage int, tonnes bigint, reference text DEFAULT NULL,
                                              acting_for bigint DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp
SET carbonmkt.acting_room = 'finance' AS
$$
#variable_conflict use_variable
DECLARE
    me      bigint := carbonmkt._finance_actor(acting_for, 'buy paid allocation');
    e       carbonmkt.paid_entitlement;
    prov    char(6);
    src     bigint;
    fiscal  bigint;
    u       bigint;
    c       bigint;
    id      bigint;
BEGIN
    -- a retry with the same reference returns the sale it made
    IF reference IS NOT NULL THEN
        SELECT s.sale_id, s.year, s.tonnes INTO id, u, c
          FROM carbonmkt.paid_sale s WHERE s.participant_id = me AND s.reference = buy_paid_allocation.reference;
        IF FOUND THEN
            IF (u, c) IS DISTINCT FROM (vintage::bigint, tonnes) THEN
                RAISE EXCEPTION 'client reference "%" was already used for a different request', reference
                    USING ERRCODE = 'CM007',
                          DETAIL = format('Sale %s bought %s of the %s paid allocation.', id, carbonmkt._t(c), u);
            END IF;
            RETURN id;
        END IF;
    END IF;
    PERFORM carbonmkt._finance_quantity(tonnes, 'tonnes');
    SELECT * INTO e FROM carbonmkt.paid_entitlement x WHERE x.participant_id = me AND x.year = buy_paid_allocation.vintage FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'participant % has no paid allocation for %', me, coalesce(vintage::text, 'NULL') USING ERRCODE = 'CM706';
    END IF;
    IF e.method <> 'fixed_price' THEN
        RAISE EXCEPTION 'the paid allocation of % is sold by auction, not at a fixed price', vintage USING ERRCODE = 'CM706',
            HINT = 'Bid in the authority''s one-way bidding (carbonmkt.bid_auction).';
    END IF;
    IF tonnes > e.paid_due_t - e.bought_t THEN
        RAISE EXCEPTION 'participant % may buy % more of its % paid allocation, not %', me,
            carbonmkt._t(e.paid_due_t - e.bought_t), vintage, carbonmkt._t(tonnes) USING ERRCODE = 'CM706',
            DETAIL = format('Paid share %s of %s = %s; bought %s.', e.paid_share, carbonmkt._t(e.allocated_t),
                            carbonmkt._t(e.paid_due_t), carbonmkt._t(e.bought_t));
    END IF;
    SELECT p.province INTO prov FROM carbonmkt.participant p WHERE p.participant_id = me;
    src := carbonmkt._allocation_account(prov);
    fiscal := carbonmkt._finance_account((SELECT a.participant_id FROM carbonmkt.account a WHERE a.account_id = src), 'cash');
    PERFORM carbonmkt._ensure_available(src, vintage, tonnes, format('carbonmkt:paid:%s:%s:%s', me, vintage, e.bought_t),
                                        format('paid allocation %s for participant %s', vintage, me));
    -- delivery versus payment: cash to the province's fiscal account, units to the unit
    c := carbonmkt.transfer_cny(carbonmkt._finance_account(me, 'cash'), fiscal, e.price_fen * tonnes, NULL,
                                format('paid allocation %s: %s t at %s CNY/t', vintage, tonnes, e.price_fen / 100.0));
    u := carbonmkt.transfer_cea(src, carbonmkt._finance_account(me, 'holding'), vintage, tonnes, NULL,
                                format('paid allocation %s (有偿分配)', vintage));
    INSERT INTO carbonmkt.paid_sale AS s (participant_id, year, tonnes, price_fen, method, units_posting, cash_posting,
                                          business_date, recorded_at, reference)
    VALUES (me, vintage, tonnes, e.price_fen, 'fixed_price', u, c, carbonmkt.business_date(), carbonmkt.clock_now(), reference)
    RETURNING s.sale_id INTO id;
    PERFORM carbonmkt._paid_bought(me, vintage, tonnes);
    RETURN id;
END
$$;
COMMENT ON FUNCTION carbonmkt.buy_paid_allocation(int, bigint, text, bigint) IS
  'Buys tonnes of the unit''s paid allocation of a year (vintage: the allocation year, whose CEA it receives) at the rule''s fixed price (fixed_price method): cash to the province''s fiscal (cash) account, units from its allocation account, delivery versus payment in one transaction.  Lifts the unit''s lock once its share is bought.  Returns the sale id.  Idempotent per client reference (per unit).';

CREATE FUNCTION carbonmkt.offer_paid_allocation(year int, sector text, opens_at timestamptz, closes_at timestamptz)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp
SET carbonmkt.acting_room = 'finance' AS
$$
#variable_conflict use_variable
DECLARE
    me     bigint := carbonmkt._require_national_authority('offer paid allocation');
    r      carbonmkt.paid_allocation_rule := carbonmkt._paid_rule(sector, year);
    total  bigint;
    code   text := 'CEA' || year;
BEGIN
    IF r.sector IS NULL OR r.method <> 'auction' THEN
        RAISE EXCEPTION 'no paid allocation rule selling sector % of % by auction (jurisdiction CN): carbonmkt.paid_allocation_rule has %',
            coalesce(sector, 'NULL'), coalesce(year::text, 'NULL'),
            CASE WHEN r.sector IS NULL THEN 'no row for it' ELSE 'a rule selling at a fixed price (buy_paid_allocation)' END
            USING ERRCODE = 'CM706',
                  HINT = 'The national authority loads the rule with carbonmkt.set_rule(''paid_allocation_rule'', ...) (doc/rules.md).';
    END IF;
    SELECT sum(e.paid_due_t - e.bought_t) INTO total
      FROM carbonmkt.paid_entitlement e JOIN carbonmkt.participant p ON p.participant_id = e.participant_id
     WHERE e.year = offer_paid_allocation.year AND p.sector = offer_paid_allocation.sector;
    IF coalesce(total, 0) <= 0 THEN
        RAISE EXCEPTION 'nothing of sector % remains to be sold for %', sector, year USING ERRCODE = 'CM706',
            HINT = 'Apply the rule first: carbonmkt.apply_paid_allocation(year, sector).';
    END IF;
    PERFORM carbonmkt.issue_cea(carbonmkt._reserve_account(), year, total,
                                format('carbonmkt:paid:offer:%s:%s:%s', year, sector, carbonmkt.business_date()),
                                format('paid allocation %s %s offered by auction', year, sector));
    RETURN carbonmkt.announce_auction(code, 'sell', total, r.price_fen / 100.0, opens_at, closes_at,
                                      format('carbonmkt:paid:auction:%s:%s:%s', year, sector, carbonmkt.business_date()), me);
END
$$;
COMMENT ON FUNCTION carbonmkt.offer_paid_allocation(int, text, timestamptz, timestamptz) IS
  'Offers the paid allocation of a sector and year that its units have not bought yet by one-way bidding (uniform price, the rule''s price as reserve price) in today''s window: the lot is issued into the national reserve and announced by the national authority, whose cash account receives the proceeds.  After the close, carbonmkt.record_paid_auction() counts each unit''s winnings.  Returns the auction id.';

CREATE FUNCTION carbonmkt.record_paid_auction(auction_id bigint, year int)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp
SET carbonmkt.acting_room = 'finance' AS
$$
#variable_conflict use_variable
DECLARE
    a   carbonmkt.auction;
    t   record;
    n   bigint := 0;
BEGIN
    PERFORM carbonmkt._require_national_authority('record a paid allocation auction');
    IF year IS NULL OR year NOT BETWEEN 2005 AND 2100 THEN
        RAISE EXCEPTION 'year must be within 2005-2100, got %', coalesce(year::text, 'NULL') USING ERRCODE = 'CM701';
    END IF;
    SELECT * INTO a FROM carbonmkt.auction x WHERE x.auction_id = record_paid_auction.auction_id;
    IF NOT FOUND OR a.status <> 'closed' THEN
        RAISE EXCEPTION 'auction % is not a closed auction', coalesce(auction_id::text, 'NULL') USING ERRCODE = 'CM706';
    END IF;
    FOR t IN SELECT tr.* FROM carbonmkt.trade tr
              WHERE tr.sell_order_id = a.lot_order_id
                AND NOT EXISTS (SELECT 1 FROM carbonmkt.paid_sale s WHERE s.trade_id = tr.trade_id)
              ORDER BY tr.trade_id LOOP
        INSERT INTO carbonmkt.paid_sale (participant_id, year, tonnes, price_fen, method, auction_id, trade_id,
                                         business_date, recorded_at)
        VALUES (t.buyer_id, year, t.quantity, t.price_fen, 'auction', a.auction_id, t.trade_id, t.business_date,
                carbonmkt.clock_now());
        IF EXISTS (SELECT 1 FROM carbonmkt.paid_entitlement e WHERE e.participant_id = t.buyer_id AND e.year = record_paid_auction.year) THEN
            PERFORM carbonmkt._paid_bought(t.buyer_id, year, t.quantity);
        END IF;
        n := n + t.quantity;
    END LOOP;
    RETURN n;
END
$$;
COMMENT ON FUNCTION carbonmkt.record_paid_auction(bigint, int) IS
  'After a paid allocation auction closed: records every fill as a paid sale, counts it toward the buyer''s paid share (lifting its lock once bought) and returns the tonnes recorded.  Unsold volume stays in the national reserve.  Idempotent.';

CREATE FUNCTION carbonmkt.paid_lock_status(participant_id bigint DEFAULT NULL)
RETURNS TABLE (participant_id bigint, year int, paid_due_t bigint, bought_t bigint, still_to_buy_t bigint,
               locked_t bigint, message text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, carbonmkt, pg_temp AS
$$
SELECT e.participant_id, e.year, e.paid_due_t, e.bought_t, greatest(e.paid_due_t - e.bought_t, 0),
       CASE WHEN h.status = 'active' THEN h.remaining ELSE 0 END,
       CASE WHEN h.status = 'active'
            THEN format('unit %s: %s of free %s allowances are locked until it buys its paid share of %s (%s); %s still to buy',
                        e.participant_id, carbonmkt._t(h.remaining), e.year, e.paid_share, carbonmkt._t(e.paid_due_t),
                        carbonmkt._t(e.paid_due_t - e.bought_t))
            ELSE 'not locked' END
  FROM carbonmkt.paid_entitlement e
  LEFT JOIN carbonmkt.hold h ON h.hold_id = e.lock_hold_id
 WHERE e.participant_id = coalesce(paid_lock_status.participant_id, carbonmkt.caller_participant())
   AND (e.participant_id = carbonmkt.caller_participant()
        OR carbonmkt._is_member('carbonmkt_registry') OR carbonmkt._is_member('carbonmkt_authority')
        OR carbonmkt._is_member('carbonmkt_exchange') OR carbonmkt._is_member('carbonmkt_bi'))
 ORDER BY e.year
$$;
COMMENT ON FUNCTION carbonmkt.paid_lock_status(bigint) IS
  'Per year, a unit''s paid share, what it bought, what it still has to buy and how many of its free allowances are locked (paid_lock hold), with a sentence naming them.  The unit itself (default: the login''s participant) or staff.';

CREATE VIEW carbonmkt.bi_paid_allocation WITH (security_invoker = true) AS
SELECT e.year, p.sector, count(*) AS units, sum(e.allocated_t)::bigint AS allocated_t,
       sum(e.allocated_t - e.paid_due_t)::bigint AS free_t, sum(e.paid_due_t)::bigint AS paid_due_t,
       sum(e.bought_t)::bigint AS bought_t,
       coalesce((SELECT sum(s.tonnes * s.price_fen) FROM carbonmkt.paid_sale s JOIN carbonmkt.participant q
                   ON q.participant_id = s.participant_id WHERE s.year = e.year AND q.sector = p.sector), 0)::bigint
           AS proceeds_fen,
       (SELECT max(a.clearing_fen) FROM carbonmkt.paid_sale s JOIN carbonmkt.auction a ON a.auction_id = s.auction_id
          JOIN carbonmkt.participant q ON q.participant_id = s.participant_id
         WHERE s.year = e.year AND q.sector = p.sector) AS clearing_fen
  FROM carbonmkt.paid_entitlement e JOIN carbonmkt.participant p ON p.participant_id = e.participant_id
 GROUP BY e.year, p.sector;
COMMENT ON VIEW carbonmkt.bi_paid_allocation IS
  'Paid versus free allocation per year and sector (有偿分配): units, allocated, free and paid tonnes, what the units bought, the proceeds (fen, fixed-price and auction sales of units) and the auction clearing price (fen).';
COMMENT ON COLUMN carbonmkt.bi_paid_allocation.year IS 'Allocation year.';
COMMENT ON COLUMN carbonmkt.bi_paid_allocation.sector IS 'Sector code.';
COMMENT ON COLUMN carbonmkt.bi_paid_allocation.units IS 'Units with a paid allocation entitlement.';
COMMENT ON COLUMN carbonmkt.bi_paid_allocation.allocated_t IS 'Their allocation (t).';
COMMENT ON COLUMN carbonmkt.bi_paid_allocation.free_t IS 'Free part (t).';
COMMENT ON COLUMN carbonmkt.bi_paid_allocation.paid_due_t IS 'Paid part the units must buy (t).';
COMMENT ON COLUMN carbonmkt.bi_paid_allocation.bought_t IS 'Paid part bought so far (t).';
COMMENT ON COLUMN carbonmkt.bi_paid_allocation.proceeds_fen IS 'Proceeds from the units'' purchases (fen).';
COMMENT ON COLUMN carbonmkt.bi_paid_allocation.clearing_fen IS 'Highest clearing price of the paid allocation auctions (fen per t), NULL without one.';

-- Access --------------------------------------------------------------------------------------

REVOKE ALL ON FUNCTION carbonmkt._finance_text(text, text), carbonmkt._finance_quantity(bigint, text),
                       carbonmkt._finance_price(numeric, text, text, text), carbonmkt._finance_fen(bigint, text),
                       carbonmkt._finance_actor(bigint, text),
                       carbonmkt._finance_account(bigint, carbonmkt.account_kind),
                       carbonmkt._require_national_authority(text), carbonmkt._pledge(bigint, boolean),
                       carbonmkt._pledge_state(carbonmkt.pledge, text, text), carbonmkt._pledge_end_offers(bigint, bigint),
                       carbonmkt._repo_rule(date), carbonmkt._repo_leg(carbonmkt.repo, int),
                       carbonmkt._reserve_account(), carbonmkt._reserve_inputs(carbonmkt.reserve_trigger, date),
                       carbonmkt._paid_rule(text, int), carbonmkt._paid_bought(bigint, int, bigint),
                       carbonmkt._paid_lock_detail(bigint, int)
  FROM PUBLIC;
REVOKE ALL ON FUNCTION carbonmkt.retire_voluntarily(bigint, carbonmkt.instrument, int, text, bigint, text, text, text, int, text),
                       carbonmkt.propose_pledge(bigint, int, bigint, bigint, date, bigint),
                       carbonmkt.accept_pledge(bigint, bigint), carbonmkt.register_pledge(bigint, text),
                       carbonmkt.discharge_pledge(bigint, text, bigint), carbonmkt.offer_for_pledge(bigint, numeric, text, bigint),
                       carbonmkt.enforce_pledge(bigint, text, bigint, text),
                       carbonmkt.propose_repo(bigint, int, bigint, numeric, numeric, date, text, bigint),
                       carbonmkt.confirm_repo(bigint, bigint), carbonmkt.settle_repos(date),
                       carbonmkt.feed_reserve(int), carbonmkt.absorb_closed_unit(bigint, int, text),
                       carbonmkt.evaluate_market_adjustment(date),
                       carbonmkt.execute_reserve_decision(bigint, timestamptz, timestamptz),
                       carbonmkt.plan_reserve_auction(text, bigint, date, text), carbonmkt.withhold_auction_volume(bigint),
                       carbonmkt.offer_planned_auction(bigint, numeric, timestamptz, timestamptz),
                       carbonmkt.apply_paid_allocation(int, text), carbonmkt.buy_paid_allocation(int, bigint, text, bigint),
                       carbonmkt.offer_paid_allocation(int, text, timestamptz, timestamptz),
                       carbonmkt.record_paid_auction(bigint, int), carbonmkt.paid_lock_status(bigint)
  FROM PUBLIC;
-- participants (and the registry acting for them)
GRANT EXECUTE ON FUNCTION
    carbonmkt.retire_voluntarily(bigint, carbonmkt.instrument, int, text, bigint, text, text, text, int, text),
    carbonmkt.propose_pledge(bigint, int, bigint, bigint, date, bigint),
    carbonmkt.accept_pledge(bigint, bigint), carbonmkt.discharge_pledge(bigint, text, bigint),
    carbonmkt.offer_for_pledge(bigint, numeric, text, bigint),
    carbonmkt.propose_repo(bigint, int, bigint, numeric, numeric, date, text, bigint),
    carbonmkt.confirm_repo(bigint, bigint),
    carbonmkt.buy_paid_allocation(int, bigint, text, bigint), carbonmkt.paid_lock_status(bigint)
  TO carbonmkt_participant, carbonmkt_registry;
-- the registry
GRANT EXECUTE ON FUNCTION carbonmkt.register_pledge(bigint, text), carbonmkt.enforce_pledge(bigint, text, bigint, text)
  TO carbonmkt_registry;
-- the exchange's end of day
GRANT EXECUTE ON FUNCTION carbonmkt.settle_repos(date), carbonmkt.evaluate_market_adjustment(date)
  TO carbonmkt_exchange, carbonmkt_registry;
-- authorities (each function checks for the national authority)
GRANT EXECUTE ON FUNCTION carbonmkt.feed_reserve(int), carbonmkt.absorb_closed_unit(bigint, int, text),
                          carbonmkt.evaluate_market_adjustment(date),
                          carbonmkt.execute_reserve_decision(bigint, timestamptz, timestamptz),
                          carbonmkt.plan_reserve_auction(text, bigint, date, text), carbonmkt.withhold_auction_volume(bigint),
                          carbonmkt.offer_planned_auction(bigint, numeric, timestamptz, timestamptz),
                          carbonmkt.apply_paid_allocation(int, text),
                          carbonmkt.offer_paid_allocation(int, text, timestamptz, timestamptz),
                          carbonmkt.record_paid_auction(bigint, int), carbonmkt.paid_lock_status(bigint)
  TO carbonmkt_authority;
GRANT EXECUTE ON FUNCTION carbonmkt.paid_lock_status(bigint) TO carbonmkt_bi, carbonmkt_exchange;
-- anyone holding a certificate may check it
GRANT EXECUTE ON FUNCTION carbonmkt.verify_certificate(text) TO PUBLIC;

GRANT SELECT ON carbonmkt.repo_rule, carbonmkt.reserve_feed_rule, carbonmkt.reserve_trigger,
                carbonmkt.paid_allocation_rule, carbonmkt.reserve_decision, carbonmkt.market_adjustment_decisions,
                carbonmkt.reserve_auction_plan, carbonmkt.reserve_withholding, carbonmkt.reserve_auction_schedule
  TO PUBLIC;
GRANT SELECT ON carbonmkt.voluntary_retirement, carbonmkt.voluntary_retirements, carbonmkt.pledge, carbonmkt.pledge_offer,
                carbonmkt.repo, carbonmkt.repo_leg, carbonmkt.paid_entitlement, carbonmkt.paid_sale
  TO carbonmkt_registry, carbonmkt_authority, carbonmkt_exchange, carbonmkt_settlement, carbonmkt_participant, carbonmkt_bi;
GRANT SELECT ON carbonmkt.bi_paid_allocation TO carbonmkt_registry, carbonmkt_authority, carbonmkt_exchange, carbonmkt_bi;

-- Row-level security: staff read everything (an unmapped authority login nothing: fail closed,
-- doc/security.md); a participant reads what it is a party to.
ALTER TABLE carbonmkt.voluntary_retirement ENABLE ROW LEVEL SECURITY;
ALTER TABLE carbonmkt.pledge ENABLE ROW LEVEL SECURITY;
ALTER TABLE carbonmkt.pledge_offer ENABLE ROW LEVEL SECURITY;
ALTER TABLE carbonmkt.repo ENABLE ROW LEVEL SECURITY;
ALTER TABLE carbonmkt.repo_leg ENABLE ROW LEVEL SECURITY;
ALTER TABLE carbonmkt.paid_entitlement ENABLE ROW LEVEL SECURITY;
ALTER TABLE carbonmkt.paid_sale ENABLE ROW LEVEL SECURITY;

CREATE POLICY staff_read ON carbonmkt.voluntary_retirement FOR SELECT
    TO carbonmkt_registry, carbonmkt_authority, carbonmkt_exchange, carbonmkt_settlement, carbonmkt_bi
    USING ((SELECT carbonmkt.caller_sees_staff_rows()));
CREATE POLICY own_read ON carbonmkt.voluntary_retirement FOR SELECT TO carbonmkt_participant
    USING (participant_id = carbonmkt.caller_participant());
CREATE POLICY staff_read ON carbonmkt.pledge FOR SELECT
    TO carbonmkt_registry, carbonmkt_authority, carbonmkt_exchange, carbonmkt_settlement, carbonmkt_bi
    USING ((SELECT carbonmkt.caller_sees_staff_rows()));
CREATE POLICY party_read ON carbonmkt.pledge FOR SELECT TO carbonmkt_participant
    USING (carbonmkt.caller_participant() IN (pledgor_id, pledgee_id));
CREATE POLICY staff_read ON carbonmkt.pledge_offer FOR SELECT
    TO carbonmkt_registry, carbonmkt_authority, carbonmkt_exchange, carbonmkt_settlement, carbonmkt_bi
    USING ((SELECT carbonmkt.caller_sees_staff_rows()));
CREATE POLICY own_read ON carbonmkt.pledge_offer FOR SELECT TO carbonmkt_participant
    USING (buyer_id = carbonmkt.caller_participant());
CREATE POLICY staff_read ON carbonmkt.repo FOR SELECT
    TO carbonmkt_registry, carbonmkt_authority, carbonmkt_exchange, carbonmkt_settlement, carbonmkt_bi
    USING ((SELECT carbonmkt.caller_sees_staff_rows()));
CREATE POLICY party_read ON carbonmkt.repo FOR SELECT TO carbonmkt_participant
    USING (carbonmkt.caller_participant() IN (seller_id, buyer_id));
CREATE POLICY staff_read ON carbonmkt.repo_leg FOR SELECT
    TO carbonmkt_registry, carbonmkt_authority, carbonmkt_exchange, carbonmkt_settlement, carbonmkt_bi
    USING ((SELECT carbonmkt.caller_sees_staff_rows()));
CREATE POLICY party_read ON carbonmkt.repo_leg FOR SELECT TO carbonmkt_participant
    USING (repo_id IN (SELECT r.repo_id FROM carbonmkt.repo r));
CREATE POLICY staff_read ON carbonmkt.paid_entitlement FOR SELECT
    TO carbonmkt_registry, carbonmkt_authority, carbonmkt_exchange, carbonmkt_settlement, carbonmkt_bi
    USING ((SELECT carbonmkt.caller_sees_staff_rows()));
CREATE POLICY own_read ON carbonmkt.paid_entitlement FOR SELECT TO carbonmkt_participant
    USING (participant_id = carbonmkt.caller_participant());
CREATE POLICY staff_read ON carbonmkt.paid_sale FOR SELECT
    TO carbonmkt_registry, carbonmkt_authority, carbonmkt_exchange, carbonmkt_settlement, carbonmkt_bi
    USING ((SELECT carbonmkt.caller_sees_staff_rows()));
CREATE POLICY own_read ON carbonmkt.paid_sale FOR SELECT TO carbonmkt_participant
    USING (participant_id = carbonmkt.caller_participant());

-- Append-only records
CREATE TRIGGER voluntary_retirement_append_only BEFORE DELETE ON carbonmkt.voluntary_retirement
    FOR EACH ROW EXECUTE FUNCTION carbonmkt.forbid_change();
CREATE TRIGGER repo_leg_append_only BEFORE UPDATE OR DELETE ON carbonmkt.repo_leg
    FOR EACH ROW EXECUTE FUNCTION carbonmkt.forbid_change();
CREATE TRIGGER paid_sale_append_only BEFORE UPDATE OR DELETE ON carbonmkt.paid_sale
    FOR EACH ROW EXECUTE FUNCTION carbonmkt.forbid_change();
