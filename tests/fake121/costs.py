"""Cost model of the real 121 service (enabled with --cost-model).

Measured on a real 121-service, quoted from contracts/recorded/121/README.md
("program with 40,960 registrations, same dev machine, one request at a time"):

  | request on `/programs/2/registrations`               | time   | bytes   |
  | `limit=-1` (all)                                     | 8.2 s  | 35.2 MB |
  | `limit=20000&sortBy=id:ASC`                          | 4.7 s  | 17.2 MB |
  | `limit=10000&sortBy=id:ASC&filter.id=$gt:20000`      | 3.4 s  | 8.6 MB  |
  | `limit=1000&sortBy=id:ASC&filter.id=$gt:20000`       | 1.8 s  | 0.86 MB |
  | `limit=100`                                          | 1.6 s  | 86 KB   |
  | `filter.id=$gt:80000` (nothing matches)              | 0.03 s | 263 B   |
  | `filter.id=$eq:4`                                    | 0.03 s | one row |
  | `filter.referenceId=$in:<100 refs>&limit=-1`         | 1.9 s  | 88 KB   |
  | `registration-events?fromDate=<recent>` (none)       | 0.02 s | 49 B    |

  "Each request costs about 1.5 s plus about 0.17 s per 1,000 rows returned, as
  long as many rows match the filter, whatever the limit"
  "`PATCH /programs/2/registrations/{referenceId}` (one field, with reason):
  2.5-3.2 s each"
  "`PATCH /programs/2/registrations` with a multipart CSV ...: 200 rows accepted
  in 1.6 s, then applied asynchronously by a serial queue, slowly (about one row
  per second at this program size)"
  "`registration-events?fromDate=<just before 20 edits>`: 0.03 s, 20 events."
  SUMMARY.txt: login 75 ms, other GETs 30-45 ms, POST /registrations ~450-500 ms.

Model (every value is multiplied by --cost-scale, default 1.0):

  GET registrations  = max(0.03 s, 1.5 s * scanned / 40,000) + 0.17 ms * returned
     where `scanned` = the program's rows inside the range that the id filters
     (`filter.id=$gt/$lt/$eq/$btw`, the primary-key index) leave; other filters
     (referenceId, status, attributes, search) do not make the database scan
     fewer rows, which is why `filter.referenceId=$in:<100 refs>` still costs
     ~1.5 s while `filter.id=$gt:<max>` or `$eq` costs ~0.03 s. Linear in the
     program size (80,000 rows -> 3 s base). The time already spent building the
     response counts towards the modelled time (we sleep only the remainder).
  PATCH one registration          2.5 s
  PATCH status / DELETE / message 0.05 s (+ the async apply, --async-delay)
  POST registrations              0.45 s + 0.01 s per row (Twilio lookups)
  PATCH bulk CSV (upload)         1.5 s + 0.0005 s per row; rows then applied at
                                  1 row/s (unless --bulk-rate is given)
  login                           0.075 s
  registration-events             0.03 s
  anything else                   0.03 s
"""

REG_BASE_S = 1.5
REG_REF_ROWS = 40_000
REG_MIN_S = 0.03
REG_PER_ROW_S = 0.17 / 1000
PATCH_ONE_S = 2.5
BULK_ACTION_S = 0.05
POST_REG_BASE_S = 0.45
POST_REG_PER_ROW_S = 0.01
BULK_UPLOAD_BASE_S = 1.5
BULK_UPLOAD_PER_ROW_S = 0.0005
BULK_ROW_APPLY_S = 1.0
LOGIN_S = 0.075
EVENTS_S = 0.03
OTHER_S = 0.03


def registrations_cost(scanned, returned):
    return max(REG_MIN_S, REG_BASE_S * scanned / REG_REF_ROWS) + REG_PER_ROW_S * returned
