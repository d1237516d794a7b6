// The PostgreSQL JDBC driver against `kpi serve` (run by tests/it/server.rs), as Metabase and
// DBeaver use it: DatabaseMetaData to list tables and columns, a PreparedStatement run often
// enough to be prepared on the server. Usage: java -cp postgresql.jar JdbcClient.java PORT
import java.sql.*;
import java.util.*;

public class JdbcClient {
    static void check(boolean ok, String what) {
        if (!ok) throw new AssertionError(what);
    }

    static Set<String> tables(Connection c) throws SQLException {
        Set<String> names = new TreeSet<>();
        try (ResultSet rs = c.getMetaData().getTables(null, null, "%", new String[] {"TABLE", "VIEW"})) {
            while (rs.next()) names.add(rs.getString("TABLE_NAME"));
        }
        return names;
    }

    public static void main(String[] args) throws Exception {
        String url = "jdbc:postgresql://127.0.0.1:" + args[0] + "/kpi";
        try (Connection c = DriverManager.getConnection(url, "ana", "ana-password")) {
            Set<String> names = tables(c);
            check(names.contains("tickets") && names.contains("ticket_sla"), "tables: " + names);
            Map<String, String> columns = new LinkedHashMap<>();
            try (ResultSet rs = c.getMetaData().getColumns(null, "public", "tickets", "%")) {
                while (rs.next()) columns.put(rs.getString("COLUMN_NAME"), rs.getString("TYPE_NAME"));
            }
            check(columns.size() >= 10, "columns: " + columns);
            check("timestamptz".equals(columns.get("created_at")), "created_at: " + columns);
            long expected = -1;
            try (PreparedStatement ps = c.prepareStatement(
                    "SELECT count(*) FROM tickets WHERE priority = ? AND created_at < ?")) {
                // More runs than prepareThreshold (5): the driver switches to a named server-side
                // statement and binary transfer.
                for (int i = 0; i < 8; i++) {
                    ps.setString(1, "high");
                    ps.setTimestamp(2, Timestamp.valueOf("2030-01-01 00:00:00"));
                    try (ResultSet rs = ps.executeQuery()) {
                        check(rs.next(), "a row");
                        long n = rs.getLong(1);
                        check(expected < 0 || n == expected, "the same count each time");
                        expected = n;
                    }
                }
            }
            check(expected == 1166, "count: " + expected);
            try (Statement st = c.createStatement();
                 ResultSet rs = st.executeQuery("SELECT ticket_id, created_at, resolved_at FROM tickets ORDER BY ticket_id LIMIT 3")) {
                int n = 0;
                while (rs.next()) {
                    check(rs.getString(1) != null && rs.getTimestamp(2) != null, "values");
                    n++;
                }
                check(n == 3, "three rows");
            }
            try (Statement st = c.createStatement()) {
                st.executeQuery("DELETE FROM tickets");
                check(false, "a write went through");
            } catch (SQLException e) {
                check("25006".equals(e.getSQLState()), "read-only: " + e.getSQLState() + " " + e.getMessage());
            }
        }
        try (Connection c = DriverManager.getConnection(url, "dash", "dash-password")) {
            Set<String> names = tables(c);
            check(names.contains("kpi_catalog") && !names.contains("tickets"), "viewer tables: " + names);
            try (Statement st = c.createStatement()) {
                st.executeQuery("SELECT * FROM tickets");
                check(false, "a viewer read tickets");
            } catch (SQLException e) {
                check("42501".equals(e.getSQLState()), "denied: " + e.getSQLState());
            }
        }
        System.out.println("ok");
    }
}
