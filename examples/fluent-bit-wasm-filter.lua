-- Companion of fluent-bit-wasm-filter.conf / .yaml (docs/wasm.md).
-- filter_wasm replaces one record with one object. When one Defender record maps to several
-- documents (an alert with several evidence items, a {"value":[...]} page, a {"records":[...]}
-- envelope), the defender-bridge module returns {"documents":[doc1, doc2, ...]}. This Lua
-- filter turns that into one Fluent Bit record per document, keeping the record's timestamp.
-- Every other record passes through unchanged.
function split_documents(tag, timestamp, record)
    local docs = record["documents"]
    if type(docs) == "table" and docs[1] ~= nil then
        -- 2: records modified, original timestamp kept; a table of records splits them.
        return 2, timestamp, docs
    end
    return 0, timestamp, record
end
